//! Named points where a run can be made to stop dead, so crash tests can SIGKILL a real process
//! at an exact moment (between a data commit and the ledger update, say) instead of guessing
//! with timers. Inert unless `LAKEJOB_FAILPOINT` names the point.

/// The environment variable naming the point to stop at.
pub const FAILPOINT_ENV: &str = "LAKEJOB_FAILPOINT";

/// When `LAKEJOB_FAILPOINT` is `name`, announces it on stderr and blocks forever, waiting for
/// the test that set it to kill the process.
pub fn failpoint(name: &str) {
    if std::env::var(FAILPOINT_ENV).is_ok_and(|wanted| wanted == name) {
        eprintln!("failpoint {name} reached");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}
