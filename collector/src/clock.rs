//! The collector's notion of "now", in Unix milliseconds. The service
//! holds one [`Clock`] in its application state ([`App::clock`](crate::service::App))
//! and every evidence, alert and stale-check time comes from it.
//!
//! A release build only knows the system clock. The `test-clock` cargo
//! feature (enabled by the end-to-end tests' dev-dependency, never by
//! `cargo build -p evident-collector`) adds a clock read from a file named
//! by `EVIDENT_FAKE_CLOCK_FILE`, so tests can move time across real
//! processes by rewriting the file. Without the feature the variable is
//! ignored: whoever controls the service's environment cannot set evidence
//! or alert times.

/// Environment variable naming the fake clock file (`test-clock` builds only).
pub const FAKE_CLOCK_ENV: &str = "EVIDENT_FAKE_CLOCK_FILE";

/// Where "now" comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A file holding the current Unix ms (falls back to the system clock
    /// when unreadable). Test builds only.
    #[cfg(feature = "test-clock")]
    File(std::path::PathBuf),
}

impl Clock {
    /// The clock this process uses: the system clock, or in a `test-clock`
    /// build the file `EVIDENT_FAKE_CLOCK_FILE` names when it is set.
    pub fn from_env() -> Clock {
        #[cfg(feature = "test-clock")]
        if let Some(p) = std::env::var_os(FAKE_CLOCK_ENV) {
            return Clock::File(p.into());
        }
        Clock::System
    }

    /// Whether this is a clock read from a file (test builds), which can
    /// jump at any moment.
    pub fn is_fake(&self) -> bool {
        !matches!(self, Clock::System)
    }

    /// Now, Unix ms.
    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => system_ms(),
            #[cfg(feature = "test-clock")]
            Clock::File(p) => std::fs::read_to_string(p)
                .ok()
                .and_then(|t| t.trim().parse::<i64>().ok())
                .unwrap_or_else(system_ms),
        }
    }
}

/// The system clock, Unix ms (delivery retries and leases always use it).
pub fn system_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_the_default() {
        assert_eq!(Clock::default(), Clock::System);
        let (a, b) = (Clock::System.now_ms(), system_ms());
        assert!((b - a).abs() < 60_000);
    }

    /// Without the `test-clock` feature the environment cannot set the time.
    #[cfg(not(feature = "test-clock"))]
    #[test]
    fn release_builds_ignore_the_fake_clock_variable() {
        // The variable is read when the clock is made; this process never
        // sets it, so check the decision directly: only `System` exists.
        assert_eq!(Clock::from_env(), Clock::System);
        let dir = std::env::temp_dir().join(format!("evident-clock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("now");
        std::fs::write(&file, "1000").unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "clock::tests::child_reports_the_clock",
                "--ignored",
                "--nocapture",
            ])
            .env(FAKE_CLOCK_ENV, &file)
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("clock=system"), "{text}");
    }

    /// Run by the test above in a child process with the variable set.
    #[test]
    #[ignore = "run by release_builds_ignore_the_fake_clock_variable in a child process"]
    fn child_reports_the_clock() {
        let c = Clock::from_env();
        let name = if c == Clock::System { "system" } else { "file" };
        println!("clock={name} now={}", c.now_ms());
    }

    #[cfg(feature = "test-clock")]
    #[test]
    fn test_builds_read_the_file() {
        let dir = std::env::temp_dir().join(format!("evident-clock-t-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("now");
        std::fs::write(&file, "1234\n").unwrap();
        assert_eq!(Clock::File(file.clone()).now_ms(), 1234);
        std::fs::write(&file, "garbage").unwrap();
        assert!(Clock::File(file).now_ms() > 1234);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
