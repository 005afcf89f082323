// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// An account of the liar's that only forwards calls: the liar's Sybil challenger.
contract Puppet {
    address internal immutable owner;

    constructor() {
        owner = msg.sender;
    }

    function exec(address target, bytes calldata data) external payable returns (bytes memory) {
        require(msg.sender == owner, "not the owner");
        (bool ok, bytes memory ret) = target.call{value: msg.value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    receive() external payable {}
}

/// The liar's contract: it is the submitter of the false claims and drives its Sybil puppets, so a
/// whole sequence of moves by several of the liar's accounts happens in one transaction. A front-run is
/// one batch before the honest call in the same block, a back-run one batch after it.
contract LiarRig {
    /// One call by the rig itself (`puppet` = address(0)) or by one of its puppets.
    struct Call {
        Puppet puppet;
        address target;
        uint256 value;
        bytes data;
    }

    Puppet[] public puppets;
    address internal immutable owner;

    constructor() {
        owner = msg.sender;
    }

    function addPuppets(uint256 n) external {
        for (uint256 i = 0; i < n; ++i) {
            puppets.push(new Puppet());
        }
    }

    function puppetCount() external view returns (uint256) {
        return puppets.length;
    }

    function batch(Call[] calldata calls) external payable {
        require(msg.sender == owner, "not the owner");
        for (uint256 i = 0; i < calls.length; ++i) {
            Call calldata c = calls[i];
            if (address(c.puppet) == address(0)) {
                (bool ok, bytes memory ret) = c.target.call{value: c.value}(c.data);
                if (!ok) {
                    assembly ("memory-safe") {
                        revert(add(ret, 32), mload(ret))
                    }
                }
            } else {
                c.puppet.exec{value: c.value}(c.target, c.data);
            }
        }
    }

    receive() external payable {}
}
