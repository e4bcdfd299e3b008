//! Named points where a run can be made to stop dead, so crash tests can SIGKILL a real process
//! at an exact moment (between a data commit and the ledger update, say) instead of guessing
//! with timers. Inert unless `LAKEJOB_FAILPOINT` is set.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The environment variable naming the point to stop at: a point's name, or `#N` for the N-th
/// point the process passes whatever its name (so a harness can spread kills over a whole
/// pipeline without knowing its points).
pub const FAILPOINT_ENV: &str = "LAKEJOB_FAILPOINT";

/// Points passed so far by this process.
static PASSED: AtomicUsize = AtomicUsize::new(0);

/// When `LAKEJOB_FAILPOINT` names this point (or its ordinal), announces it on stderr and
/// blocks forever, waiting for the test that set it to kill the process. Any other setting
/// announces each point passed, which is how a harness counts them.
pub fn failpoint(name: &str) {
    let Ok(wanted) = std::env::var(FAILPOINT_ENV) else {
        return;
    };
    let ordinal = PASSED.fetch_add(1, Ordering::SeqCst) + 1;
    let by_ordinal = wanted
        .strip_prefix('#')
        .and_then(|n| n.parse::<usize>().ok())
        == Some(ordinal);
    if wanted == name || by_ordinal {
        eprintln!("failpoint {name} reached (#{ordinal})");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    eprintln!("failpoint {name} passed (#{ordinal})");
}
