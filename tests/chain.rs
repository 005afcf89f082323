//! The chain client and the log follower against a real anvil: fee bumping of
//! a transaction that is not mined, and a reorg that removes seen blocks.

use alloy::primitives::{B256, U256};
use alloy::providers::Provider;
use opml_agents::client::{Chain, TxJournal, TxPolicy, parse_key};
use opml_agents::follow::{Follower, Poll};
use opml_testkit::devnet::{Anvil, wait_for};
use std::sync::Mutex;
use std::time::Duration;

/// Records what the sender signs.
#[derive(Default)]
struct Journal {
    sent: Mutex<Vec<(u64, B256)>>,
    mined: Mutex<Vec<B256>>,
}

impl TxJournal for Journal {
    async fn sent(&self, _: &str, nonce: u64, hash: B256) -> Result<(), String> {
        self.sent.lock().unwrap().push((nonce, hash));
        Ok(())
    }
    async fn mined(&self, receipt: &alloy::rpc::types::TransactionReceipt) {
        self.mined.lock().unwrap().push(receipt.transaction_hash);
    }
}

async fn raw(chain: &Chain, method: &'static str, params: serde_json::Value) -> serde_json::Value {
    chain
        .provider
        .raw_request::<_, serde_json::Value>(method.into(), params)
        .await
        .unwrap()
}

/// A chain client on a fresh anvil (key 0) with mining off, quick polls and a
/// bump after 300 ms, and a transfer of `value` to key 1 sent in the background.
struct PendingTransfer {
    anvil: Anvil,
    chain: Chain,
    journal: std::sync::Arc<Journal>,
    to: alloy::primitives::Address,
    send: tokio::task::JoinHandle<opml_agents::client::ChainResult<opml_agents::client::Sent>>,
}

impl PendingTransfer {
    async fn start(value: u64) -> PendingTransfer {
        let anvil = Anvil::start(None).unwrap();
        let policy = TxPolicy {
            poll: Duration::from_millis(20),
            bump_after: Duration::from_millis(300),
            ..TxPolicy::default()
        };
        let key = parse_key(&anvil.keys[0]).unwrap();
        let chain = Chain::connect(&anvil.url, Some(key), policy).await.unwrap();
        // Nothing is mined until the test says so.
        raw(&chain, "evm_setAutomine", serde_json::json!([false])).await;
        let journal = std::sync::Arc::new(Journal::default());
        let to = parse_key(&anvil.keys[1]).unwrap().address();
        let (c, j) = (chain.clone(), journal.clone());
        let send = tokio::spawn(async move {
            c.send(
                "transfer",
                Some(to),
                Default::default(),
                U256::from(value),
                &*j,
            )
            .await
        });
        PendingTransfer {
            anvil,
            chain,
            journal,
            to,
            send,
        }
    }

    /// Waits until the sender has signed `n` versions.
    async fn signed(&self, n: usize) {
        wait_for("signed versions", Duration::from_secs(60), || {
            let j = self.journal.clone();
            async move { Ok((j.sent.lock().unwrap().len() >= n).then_some(())) }
        })
        .await
        .unwrap();
    }

    /// Mining on again, and one more transfer: it takes the next nonce.
    async fn next_takes_nonce(&self, nonce: u64) {
        raw(&self.chain, "evm_setAutomine", serde_json::json!([true])).await;
        let next = self
            .chain
            .send(
                "transfer",
                Some(self.to),
                Default::default(),
                U256::from(1),
                &*self.journal,
            )
            .await
            .unwrap();
        assert_eq!(next.nonce, nonce);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_that_is_not_mined_is_resigned_with_higher_fees_and_lands_once() {
    let mut t = PendingTransfer::start(12345).await;
    let (chain, journal, to) = (&t.chain, &t.journal, t.to);
    t.signed(2).await; // the same nonce signed at least twice
    raw(chain, "evm_mine", serde_json::json!([])).await;
    let sent = (&mut t.send).await.unwrap().unwrap();
    let versions = journal.sent.lock().unwrap().clone();
    assert!(
        versions.iter().all(|(n, _)| *n == sent.nonce),
        "one nonce: {versions:?}"
    );
    assert!(
        versions
            .iter()
            .any(|(_, h)| *h == sent.receipt.transaction_hash)
    );
    // exactly one version was mined: the recipient got the value once
    let balance = chain.balance(to).await.unwrap();
    assert_eq!(
        balance,
        U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18)) + U256::from(12345)
    );
    // the mined version pays more than the first one
    let first = chain
        .provider
        .get_transaction_by_hash(versions[0].1)
        .await
        .unwrap();
    let mined = chain
        .provider
        .get_transaction_by_hash(sent.receipt.transaction_hash)
        .await
        .unwrap()
        .unwrap();
    if let Some(first) = first {
        use alloy::consensus::Transaction;
        assert!(mined.inner.max_fee_per_gas() >= first.inner.max_fee_per_gas());
    }
    t.next_takes_nonce(sent.nonce + 1).await;
}

/// Another process signing with the agent's key takes the nonce of the
/// agent's pending transaction (same nonce, higher fees) and is mined: the
/// agent's transaction can never be mined. The sender sees that, says so,
/// and the next send takes a fresh nonce (it once re-signed the dead nonce
/// forever).
#[tokio::test(flavor = "multi_thread")]
async fn a_nonce_taken_by_a_transaction_we_did_not_send_is_given_up() {
    use opml_agents::client::ChainError;
    let mut t = PendingTransfer::start(7).await;
    let (chain, journal) = (&t.chain, &t.journal);
    let me = parse_key(&t.anvil.keys[0]).unwrap().address();
    t.signed(1).await;
    let nonce = journal.sent.lock().unwrap()[0].0;
    // The foreign transaction: anvil signs for its dev accounts.
    let gwei = 1_000_000_000u64;
    raw(
        chain,
        "eth_sendTransaction",
        serde_json::json!([{
            "from": me, "to": me, "value": "0x0", "nonce": format!("{nonce:#x}"),
            "gas": "0x5208",
            "maxFeePerGas": format!("{:#x}", 500 * gwei),
            "maxPriorityFeePerGas": format!("{:#x}", 400 * gwei),
        }]),
    )
    .await;
    raw(chain, "evm_mine", serde_json::json!([])).await;
    let result = tokio::time::timeout(Duration::from_secs(120), &mut t.send)
        .await
        .expect("the sender gives the nonce up")
        .unwrap();
    match result {
        Err(ChainError::NonceTaken { nonce: n, .. }) => assert_eq!(n, nonce),
        other => panic!("expected NonceTaken, got {other:?}"),
    }
    // nothing of ours was mined at that nonce; the next send lands with a fresh one
    assert!(journal.mined.lock().unwrap().is_empty());
    t.next_takes_nonce(nonce + 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reorg_that_removes_seen_blocks_rewinds_the_follower() {
    let anvil = Anvil::start(None).unwrap();
    let chain = anvil.chain(0).await.unwrap();
    let to = parse_key(&anvil.keys[1]).unwrap().address();
    for _ in 0..5 {
        chain
            .send(
                "transfer",
                Some(to),
                Default::default(),
                U256::from(1),
                &opml_agents::client::NoJournal,
            )
            .await
            .unwrap();
    }
    let follower = Follower::new(chain.clone(), vec![to], 0, 0);
    let mut cursor = follower.start();
    loop {
        match follower.poll(cursor).await.unwrap() {
            Poll::Logs {
                cursor: c,
                caught_up,
                ..
            } => {
                cursor = c;
                if caught_up {
                    break;
                }
            }
            Poll::Idle => break,
            Poll::Reorg { .. } => panic!("no reorg yet"),
        }
    }
    let seen = cursor.next;
    // Replace the last 3 blocks with others.
    raw(&chain, "anvil_reorg", serde_json::json!([3, []])).await;
    match follower.poll(cursor).await.unwrap() {
        Poll::Reorg { rewind, at } => {
            assert_eq!(at, seen - 1);
            assert!(rewind.next < seen - 3, "rewinds past the replaced blocks");
        }
        other => panic!("the reorg was not detected: {other:?}"),
    }
}
