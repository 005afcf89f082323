//! What the fuzzing examples share: their `[N] [SEED]` arguments and exit code.

use std::process::ExitCode;
use std::time::Instant;

/// Parses `[N] [SEED]` (`N` defaults to `default_n`, `SEED` to 1); on a bad
/// argument prints the usage of `example` and returns the exit code 2.
pub(crate) fn args(example: &str, default_n: u64, what: &str) -> Result<(u64, u64), ExitCode> {
    let mut args = std::env::args().skip(1);
    let parse = |a: Option<String>, default: u64, name: &str| -> Result<u64, String> {
        a.map_or(Ok(default), |s| {
            s.parse()
                .map_err(|_| format!("{name} must be a number, got `{s}`"))
        })
    };
    match (
        parse(args.next(), default_n, &format!("N ({what})")),
        parse(args.next(), 1, "SEED"),
    ) {
        (Ok(n), Ok(seed)) => Ok((n, seed)),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}\nusage: {example} [N] [SEED]");
            Err(ExitCode::from(2))
        }
    }
}

/// Prints how long `n` of `what` from `seed` took; exit code 1 on problems.
pub(crate) fn finish(start: Instant, n: u64, what: &str, seed: u64, problems: usize) -> ExitCode {
    println!(
        "{n} {what} from seed {seed} in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
