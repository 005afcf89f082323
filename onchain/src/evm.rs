//! An in-process EVM (revm, Cancun rules) that deploys contracts from their
//! creation code and calls them, reporting output or revert data and gas.
//!
//! Nothing here is persistent: the state lives in memory, calls do not commit
//! (only deployments do), so a call cannot change what the next call sees.

use crate::error::{Error, Result};
use revm::context::TxEnv;
use revm::context::result::{ExecutionResult, Output};
use revm::context_interface::cfg::gas::calculate_initial_tx_gas;
use revm::database::{CacheDB, EmptyDB};
use revm::handler::{MainnetContext, MainnetEvm};
use revm::primitives::hardfork::SpecId;
use revm::primitives::{Address, Bytes, TxKind, address};
use revm::{ExecuteCommitEvm, ExecuteEvm, MainBuilder};

/// The hard fork the contracts are compiled for (`evm_version` in `onchain/foundry.toml`).
pub const SPEC: SpecId = SpecId::CANCUN;

/// Gas limit of every transaction (and of the block).
pub const GAS_LIMIT: u64 = 30_000_000;

/// Gas of a transaction before any calldata or execution (the `G_transaction` of the yellow paper).
pub const TX_BASE_GAS: u64 = 21_000;

/// The account that sends every transaction.
pub const CALLER: Address = address!("0x00000000000000000000000000000000000c0de1");

type Db = CacheDB<EmptyDB>;

/// Gas of one transaction, split into what the transaction pays before the
/// code runs and what the code spends: `total = 21,000 + calldata + execution`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Gas {
    /// Gas used by the whole transaction (the receipt's `gasUsed`).
    pub total: u64,
    /// Intrinsic gas of the calldata (4 per zero byte, 16 per other byte), plus
    /// the creation surcharges for a deployment.
    pub calldata: u64,
    /// Gas spent by the code itself: `total - 21,000 - calldata`.
    pub execution: u64,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallResult {
    /// `RETURN` (or `STOP`) with this data.
    Returned(Bytes),
    /// `REVERT` with this data.
    Reverted(Bytes),
    /// An exceptional halt (out of gas, invalid opcode, stack error, ...); all gas is spent.
    Halted(String),
}

/// A finished call: how it ended and what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Output, revert data or halt reason.
    pub result: CallResult,
    /// Gas used.
    pub gas: Gas,
}

/// An EVM with an in-memory state and one funded-enough caller ([`CALLER`]; gas is free).
pub struct Evm {
    inner: MainnetEvm<MainnetContext<Db>>,
    nonce: u64,
}

impl Default for Evm {
    fn default() -> Self {
        Evm::new()
    }
}

impl std::fmt::Debug for Evm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evm")
            .field("spec", &SPEC)
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

impl Evm {
    /// An empty chain state under [`SPEC`] rules.
    pub fn new() -> Evm {
        let mut ctx = MainnetContext::new(Db::default(), SPEC);
        ctx.block.gas_limit = GAS_LIMIT;
        ctx.block.basefee = 0;
        Evm {
            inner: ctx.build_mainnet(),
            nonce: 0,
        }
    }

    fn tx(&self, kind: TxKind, data: Bytes) -> TxEnv {
        TxEnv {
            caller: CALLER,
            gas_limit: GAS_LIMIT,
            gas_price: 0,
            kind,
            data,
            nonce: self.nonce,
            ..TxEnv::default()
        }
    }

    fn gas(result: &ExecutionResult, data: &[u8], create: bool) -> Gas {
        let total = result.tx_gas_used();
        let intrinsic = calculate_initial_tx_gas(SPEC, data, create, 0, 0, 0, None);
        let calldata = intrinsic.initial_regular_gas - TX_BASE_GAS;
        Gas {
            total,
            calldata,
            execution: total.saturating_sub(intrinsic.initial_regular_gas),
        }
    }

    /// Deploys `creation` (creation bytecode followed by any ABI-encoded
    /// constructor arguments) and returns the new contract's address.
    /// `name` only labels errors.
    pub fn deploy(&mut self, name: &str, creation: &[u8]) -> Result<(Address, Gas)> {
        let data = Bytes::copy_from_slice(creation);
        let tx = self.tx(TxKind::Create, data.clone());
        let fail = |why: String| Error::Deploy {
            name: name.to_string(),
            why,
        };
        let result = self
            .inner
            .transact_commit(tx)
            .map_err(|e| fail(e.to_string()))?;
        self.nonce += 1;
        let gas = Evm::gas(&result, &data, true);
        match result {
            ExecutionResult::Success {
                output: Output::Create(code, Some(address)),
                ..
            } => {
                if code.is_empty() {
                    Err(fail("the constructor returned no code".into()))
                } else {
                    Ok((address, gas))
                }
            }
            ExecutionResult::Success { output, .. } => {
                Err(fail(format!("unexpected creation output {output:?}")))
            }
            ExecutionResult::Revert { output, .. } => {
                Err(fail(format!("the constructor reverted with 0x{output:x}")))
            }
            ExecutionResult::Halt { reason, .. } => Err(fail(format!(
                "the constructor halted: {reason:?} (a runtime code over 24,576 bytes halts with CreateContractSizeLimit)"
            ))),
        }
    }

    /// The runtime code at `address` (empty when there is none).
    pub fn code(&mut self, address: Address) -> Bytes {
        use revm::database::Database;
        match self.inner.ctx.journaled_state.database.basic(address) {
            Ok(Some(info)) => info.code.map(|c| c.original_bytes()).unwrap_or_default(),
            _ => Bytes::new(),
        }
    }

    /// Calls `to` with `data` (a transaction from [`CALLER`], not committed).
    pub fn call(&mut self, to: Address, data: &[u8]) -> Result<Call> {
        let data = Bytes::copy_from_slice(data);
        let tx = self.tx(TxKind::Call(to), data.clone());
        let out = self
            .inner
            .transact(tx)
            .map_err(|e| Error::Transaction(e.to_string()))?;
        let gas = Evm::gas(&out.result, &data, false);
        let result = match out.result {
            ExecutionResult::Success { output, .. } => CallResult::Returned(output.into_data()),
            ExecutionResult::Revert { output, .. } => CallResult::Reverted(output),
            ExecutionResult::Halt { reason, .. } => CallResult::Halted(format!("{reason:?}")),
        };
        Ok(Call { result, gas })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Creation code that deploys `runtime` (at most 255 bytes).
    fn creation(runtime: &[u8]) -> Vec<u8> {
        let n = runtime.len() as u8;
        // PUSH1 n, PUSH1 12, PUSH0, CODECOPY, PUSH1 n, PUSH0, RETURN, then the runtime code
        let mut code = vec![
            0x60, n, 0x60, 12, 0x5f, 0x39, 0x60, n, 0x5f, 0xf3, 0x00, 0x00,
        ];
        code.extend_from_slice(runtime);
        code
    }

    #[test]
    fn deploys_and_calls_with_exact_gas() {
        let mut evm = Evm::new();
        // returns calldata[0..32] + 1: PUSH0 CALLDATALOAD PUSH1 1 ADD PUSH0 MSTORE PUSH1 32 PUSH0 RETURN
        let runtime = [
            0x5f, 0x35, 0x60, 0x01, 0x01, 0x5f, 0x52, 0x60, 0x20, 0x5f, 0xf3,
        ];
        let (addr, _) = evm.deploy("adder", &creation(&runtime)).unwrap();
        assert_eq!(&evm.code(addr)[..], &runtime);
        let mut input = [0u8; 32];
        input[31] = 41;
        let call = evm.call(addr, &input).unwrap();
        let mut want = [0u8; 32];
        want[31] = 42;
        assert_eq!(
            call.result,
            CallResult::Returned(Bytes::copy_from_slice(&want))
        );
        // 31 zero bytes and one nonzero byte of calldata
        assert_eq!(call.gas.calldata, 31 * 4 + 16);
        // PUSH0 2, CALLDATALOAD 3, PUSH1 3, ADD 3, PUSH0 2, MSTORE 3 + 3 (one word of memory),
        // PUSH1 3, PUSH0 2, RETURN 0
        assert_eq!(call.gas.execution, 2 + 3 + 3 + 3 + 2 + 6 + 3 + 2);
        assert_eq!(
            call.gas.total,
            TX_BASE_GAS + call.gas.calldata + call.gas.execution
        );
        // calls do not commit: the same call twice costs the same
        assert_eq!(evm.call(addr, &input).unwrap(), call);
    }

    #[test]
    fn reports_reverts_and_halts() {
        let mut evm = Evm::new();
        // PUSH1 0xab PUSH0 MSTORE8 PUSH1 1 PUSH0 REVERT
        let (reverter, _) = evm
            .deploy(
                "reverter",
                &creation(&[0x60, 0xab, 0x5f, 0x53, 0x60, 0x01, 0x5f, 0xfd]),
            )
            .unwrap();
        let (invalid, _) = evm.deploy("invalid", &creation(&[0xfe])).unwrap();
        assert_ne!(reverter, invalid);
        let r = evm.call(reverter, &[]).unwrap();
        assert_eq!(r.result, CallResult::Reverted(Bytes::from_static(&[0xab])));
        let h = evm.call(invalid, &[]).unwrap();
        assert!(matches!(h.result, CallResult::Halted(_)), "{h:?}");
        assert_eq!(h.gas.total, GAS_LIMIT, "an exceptional halt spends all gas");
        // a reverting constructor is a deployment error that names the contract
        let e = evm.deploy("broken", &[0x5f, 0x5f, 0xfd]).unwrap_err();
        assert!(e.to_string().contains("`broken`"), "{e}");
    }
}
