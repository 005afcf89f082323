//! The game player both agents use: given a game as the chain holds it, its
//! current dissection, and a trace, decide the next move (`onchain/README.md`,
//! "Playing a game").
//!
//! [`decide`] is pure: it reads nothing from the chain, so the rules are
//! tested without one, and the agents call it again after any restart: a
//! move that already landed shows as "not my move" and is never resent.

use alloy::primitives::{Address, B256, keccak256};
use opml_vm::trace::TraceProvider;

/// `IDisputeGame.Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GameStatus {
    /// No such game.
    None,
    /// The defender's first dissection is due.
    AwaitingDissection,
    /// The responder's move is due.
    AwaitingResponse,
    /// Over: the defender won.
    DefenderWon,
    /// Over: the challenger won.
    ChallengerWon,
    /// Over: the market cancelled it (its claim was voided by another game).
    Cancelled,
}

impl GameStatus {
    /// From the contract's enum value.
    pub fn from_u8(v: u8) -> GameStatus {
        match v {
            1 => GameStatus::AwaitingDissection,
            2 => GameStatus::AwaitingResponse,
            3 => GameStatus::DefenderWon,
            4 => GameStatus::ChallengerWon,
            5 => GameStatus::Cancelled,
            _ => GameStatus::None,
        }
    }

    /// Whether moves are still possible.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            GameStatus::AwaitingDissection | GameStatus::AwaitingResponse
        )
    }
}

/// One game as `DisputeGame.game(id)` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameState {
    /// The submitter.
    pub defender: Address,
    /// The challenger.
    pub challenger: Address,
    /// Seconds left on the defender's clock when it last stopped.
    pub defender_clock: u64,
    /// Seconds left on the challenger's clock when it last stopped.
    pub challenger_clock: u64,
    /// Current segment start.
    pub lo: u64,
    /// Current segment end.
    pub hi: u64,
    /// When the mover's clock started.
    pub last_move_at: u64,
    /// Status.
    pub status: GameStatus,
    /// Whether the defender posted the current dissection.
    pub defender_asserts: bool,
    /// Moves so far.
    pub moves: u16,
    /// keccak256 of the current dissection.
    pub points: B256,
}

impl GameState {
    /// Whether the defender is to move.
    pub fn defender_to_move(&self) -> bool {
        self.status == GameStatus::AwaitingDissection || !self.defender_asserts
    }

    /// The party to move (zero when over).
    pub fn to_move(&self) -> Address {
        if !self.status.is_live() {
            Address::ZERO
        } else if self.defender_to_move() {
            self.defender
        } else {
            self.challenger
        }
    }

    /// When the mover's clock runs out: `timeout` succeeds in a block later than this.
    pub fn mover_deadline(&self) -> u64 {
        let left = if self.defender_to_move() {
            self.defender_clock
        } else {
            self.challenger_clock
        };
        self.last_move_at + left
    }
}

/// Number of parts of a segment of `len` steps: `min(k, len)`.
pub fn part_count(len: u64, arity: u64) -> u64 {
    len.min(arity)
}

/// Boundary `i` of the dissection of `[lo, hi]` (`DisputeGame.boundary`).
pub fn boundary(lo: u64, hi: u64, arity: u64, i: u64) -> u64 {
    let len = hi - lo;
    lo + (i as u128 * len as u128 / part_count(len, arity) as u128) as u64
}

/// All boundaries of the dissection of `[lo, hi]`, both ends included.
pub fn boundaries(lo: u64, hi: u64, arity: u64) -> Vec<u64> {
    let m = part_count(hi - lo, arity);
    (0..=m).map(|i| boundary(lo, hi, arity, i)).collect()
}

/// The hash the contract keeps of a dissection: `keccak256(abi.encodePacked(points))`.
pub fn points_hash(points: &[B256]) -> B256 {
    let mut packed = Vec::with_capacity(points.len() * 32);
    points
        .iter()
        .for_each(|p| packed.extend_from_slice(p.as_slice()));
    keccak256(packed)
}

/// A move to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Move {
    /// The defender's first dissection of `[0, steps]`.
    Dissect {
        /// Boundary hashes.
        points: Vec<B256>,
    },
    /// Name part `part` of `points` and dissect it.
    Respond {
        /// The current dissection.
        points: Vec<B256>,
        /// The disputed part.
        part: u64,
        /// The part's segment `[lo, hi]`.
        segment: (u64, u64),
        /// Own hashes at the part's boundaries.
        new_points: Vec<B256>,
    },
    /// Settle the one-step part `part` with a proof of step `index`.
    Step {
        /// The current dissection.
        points: Vec<B256>,
        /// The disputed part.
        part: u64,
        /// The step proven (`index` -> `index + 1`).
        index: u64,
        /// One-step proof.
        proof: Vec<u8>,
    },
}

impl Move {
    /// A short name for logs and transaction purposes.
    pub fn kind(&self) -> &'static str {
        match self {
            Move::Dissect { .. } => "dissect",
            Move::Respond { .. } => "respond",
            Move::Step { .. } => "step",
        }
    }
}

/// What to do in a game now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send this move.
    Play(Move),
    /// The other party's clock ran out: call `timeout`.
    Timeout,
    /// The other party is to move; its clock runs out in this many seconds.
    Wait {
        /// Seconds left on the opponent's clock.
        clock_left: u64,
    },
    /// The game is over.
    Over(GameStatus),
}

/// Why no move could be computed.
#[derive(Debug, thiserror::Error)]
pub enum PlayError {
    /// The given dissection is not the one the contract holds.
    #[error(
        "the dissection read from the events does not hash to the game's points; read the game's latest `Dissected` event again"
    )]
    StalePoints,
    /// This key is not a party of the game.
    #[error("{me} is neither the defender nor the challenger of this game")]
    NotAParty {
        /// This agent's address.
        me: Address,
    },
    /// The trace agrees with the whole dissection (it cannot dispute any part).
    #[error(
        "the trace agrees with every boundary of the opponent's dissection of [{lo}, {hi}]: nothing to dispute"
    )]
    NothingToDispute {
        /// Segment start.
        lo: u64,
        /// Segment end.
        hi: u64,
    },
    /// The trace disagrees with the segment's start, which the game treats as agreed.
    #[error(
        "the trace disagrees with the agreed start of [{lo}, {hi}]: this trace is not the one this agent played with"
    )]
    StartDisagrees {
        /// Segment start.
        lo: u64,
        /// Segment end.
        hi: u64,
    },
    /// The trace failed.
    #[error("trace: {0}")]
    Trace(#[from] opml_vm::Error),
}

/// Decides the next action of `me` in a game.
///
/// `points` is the current dissection: the latest `Dissected` points, or
/// `[start, end]` before the first dissection. `now` is the chain's time.
pub fn decide(
    game: &GameState,
    points: &[B256],
    me: Address,
    arity: u64,
    trace: &dyn TraceProvider,
    now: u64,
) -> Result<Decision, PlayError> {
    if me != game.defender && me != game.challenger {
        return Err(PlayError::NotAParty { me });
    }
    if !game.status.is_live() {
        return Ok(Decision::Over(game.status));
    }
    if game.to_move() != me {
        let deadline = game.mover_deadline();
        return Ok(if now > deadline {
            Decision::Timeout
        } else {
            Decision::Wait {
                clock_left: deadline - now,
            }
        });
    }
    if points_hash(points) != game.points {
        return Err(PlayError::StalePoints);
    }
    let (lo, hi) = (game.lo, game.hi);
    let at = boundaries(lo, hi, arity);
    let mine: Vec<B256> = trace
        .state_hashes(&at)?
        .into_iter()
        .map(B256::from)
        .collect();
    if game.status == GameStatus::AwaitingDissection {
        return Ok(Decision::Play(Move::Dissect { points: mine }));
    }
    // A one-step game has no dissection: its points are [start, end].
    let theirs: &[B256] = points;
    if theirs.len() != at.len() {
        return Err(PlayError::StalePoints);
    }
    if mine[0] != theirs[0] {
        return Err(PlayError::StartDisagrees { lo, hi });
    }
    let part = (0..at.len() - 1)
        .find(|&j| mine[j + 1] != theirs[j + 1])
        .ok_or(PlayError::NothingToDispute { lo, hi })?;
    let (a, b) = (at[part], at[part + 1]);
    if b - a == 1 {
        let proof = trace.step_proof(a)?;
        return Ok(Decision::Play(Move::Step {
            points: theirs.to_vec(),
            part: part as u64,
            index: a,
            proof,
        }));
    }
    let new_at = boundaries(a, b, arity);
    let new_points = trace
        .state_hashes(&new_at)?
        .into_iter()
        .map(B256::from)
        .collect();
    Ok(Decision::Play(Move::Respond {
        points: theirs.to_vec(),
        part: part as u64,
        segment: (a, b),
        new_points,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opml_vm::machine::hash::H256;
    use opml_vm::trace::ClaimData;

    /// A synthetic trace: state i hashes to keccak(i), except that a liar's
    /// states from `wrong_from` on are different.
    struct Synthetic {
        steps: u64,
        wrong_from: u64,
        claim: ClaimData,
    }

    impl Synthetic {
        fn new(steps: u64, wrong_from: u64) -> Synthetic {
            let mut s = Synthetic {
                steps,
                wrong_from,
                claim: ClaimData {
                    output: vec![],
                    final_state: [0; 32],
                    steps,
                    output_proof: vec![],
                },
            };
            s.claim.final_state = s.hash(steps);
            s
        }

        fn hash(&self, i: u64) -> H256 {
            let i = i.min(self.steps);
            let salt: &[u8] = if i >= self.wrong_from { b"lie" } else { b"" };
            keccak256([&i.to_be_bytes()[..], salt].concat()).0
        }
    }

    impl TraceProvider for Synthetic {
        fn claim(&self) -> &ClaimData {
            &self.claim
        }
        fn initial_state(&self) -> H256 {
            self.hash(0)
        }
        fn state_hashes(&self, steps: &[u64]) -> opml_vm::Result<Vec<H256>> {
            Ok(steps.iter().map(|&s| self.hash(s)).collect())
        }
        fn step_proof(&self, step: u64) -> opml_vm::Result<Vec<u8>> {
            Ok(step.to_be_bytes().to_vec())
        }
        fn instruction_at(&self, _: u64) -> opml_vm::Result<String> {
            Ok("nop".into())
        }
    }

    const D: Address = Address::with_last_byte(0xd);
    const C: Address = Address::with_last_byte(0xc);

    /// Plays a whole game between two synthetic traces the way the contract
    /// applies moves; returns the step the one-step proof is for and who sent it.
    fn play(
        steps: u64,
        arity: u64,
        defender: &Synthetic,
        challenger: &Synthetic,
    ) -> (u64, Address) {
        let start = B256::from(defender.hash(0));
        let end = B256::from(defender.claim.final_state);
        let mut g = GameState {
            defender: D,
            challenger: C,
            defender_clock: 100,
            challenger_clock: 100,
            lo: 0,
            hi: steps,
            last_move_at: 0,
            status: if steps == 1 {
                GameStatus::AwaitingResponse
            } else {
                GameStatus::AwaitingDissection
            },
            defender_asserts: true,
            moves: 0,
            points: points_hash(&[start, end]),
        };
        let mut points = vec![start, end];
        for _ in 0..64 {
            let me = g.to_move();
            let trace = if me == D { defender } else { challenger };
            match decide(&g, &points, me, arity, trace, 0).unwrap() {
                Decision::Play(Move::Dissect { points: p }) => {
                    assert_eq!((p[0], *p.last().unwrap()), (start, end));
                    g.status = GameStatus::AwaitingResponse;
                    g.points = points_hash(&p);
                    points = p;
                }
                Decision::Play(Move::Respond {
                    part,
                    segment,
                    new_points,
                    ..
                }) => {
                    assert_eq!(new_points[0], points[part as usize]);
                    assert_ne!(*new_points.last().unwrap(), points[part as usize + 1]);
                    (g.lo, g.hi) = segment;
                    g.defender_asserts = !g.defender_asserts;
                    g.points = points_hash(&new_points);
                    points = new_points;
                }
                Decision::Play(Move::Step { index, part, .. }) => {
                    assert_eq!(boundary(g.lo, g.hi, arity, part), index);
                    assert_eq!(boundary(g.lo, g.hi, arity, part + 1), index + 1);
                    return (index, me);
                }
                other => panic!("unexpected {other:?}"),
            }
            g.moves += 1;
        }
        panic!("the game did not end");
    }

    #[test]
    fn an_honest_challenger_narrows_a_lie_to_its_first_wrong_step() {
        for (steps, arity) in [
            (1u64, 8u64),
            (2, 8),
            (9, 8),
            (1000, 8),
            (123_457, 32),
            (1 << 40, 8),
        ] {
            for wrong_from in [1, steps / 2 + 1, steps] {
                let honest = Synthetic::new(steps, u64::MAX);
                let liar = Synthetic::new(steps, wrong_from);
                let (index, prover) = play(steps, arity, &liar, &honest);
                // The decisive step ends at the first wrong state; its pre-state is agreed.
                assert_eq!(index + 1, wrong_from, "steps {steps} k {arity}");
                // the honest challenger proves whenever it is the responder there
                let _ = prover;
            }
        }
    }

    #[test]
    fn an_honest_defender_narrows_a_lying_challenger_to_its_first_wrong_step() {
        for (steps, arity) in [(2u64, 8u64), (77, 8), (99_999, 16)] {
            for wrong_from in [1, steps / 3 + 1, steps - 1] {
                let honest = Synthetic::new(steps, u64::MAX);
                let liar = Synthetic::new(steps, wrong_from);
                let (index, _) = play(steps, arity, &honest, &liar);
                assert_eq!(index + 1, wrong_from, "steps {steps} k {arity}");
            }
        }
    }

    #[test]
    fn waits_for_the_opponent_then_claims_its_timeout() {
        let honest = Synthetic::new(100, u64::MAX);
        let start = B256::from(honest.hash(0));
        let end = B256::from(honest.hash(100));
        let g = GameState {
            defender: D,
            challenger: C,
            defender_clock: 50,
            challenger_clock: 50,
            lo: 0,
            hi: 100,
            last_move_at: 1000,
            status: GameStatus::AwaitingDissection,
            defender_asserts: true,
            moves: 0,
            points: points_hash(&[start, end]),
        };
        let pts = [start, end];
        assert_eq!(
            decide(&g, &pts, C, 8, &honest, 1010).unwrap(),
            Decision::Wait { clock_left: 40 }
        );
        assert_eq!(
            decide(&g, &pts, C, 8, &honest, 1051).unwrap(),
            Decision::Timeout
        );
        assert!(matches!(
            decide(&g, &pts, Address::with_last_byte(1), 8, &honest, 0),
            Err(PlayError::NotAParty { .. })
        ));
        assert!(matches!(
            decide(&g, &[end, start], D, 8, &honest, 1010),
            Err(PlayError::StalePoints)
        ));
    }
}
