//! Readiness: `/livez` answers while the process runs; `/readyz` (and
//! `/healthz`) only while the store is healthy: the database answers and
//! the integrity check run at start found nothing. The check is bounded
//! (it reports at most [`MAX_PROBLEMS`] problems and `serve` waits for it
//! at most [`START_BUDGET`] before listening; a longer check finishes in
//! the background while `/readyz` says "checking").

use crate::store::Store;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Most problems an integrity check reports.
pub const MAX_PROBLEMS: u32 = 10;
/// How long `serve` waits for the start-up check before listening.
pub const START_BUDGET: Duration = Duration::from_secs(5);

/// The store's health as last checked.
#[derive(Debug, Default)]
pub struct Health {
    checked: AtomicBool,
    problem: RwLock<Option<String>>,
}

impl Health {
    /// Why the store is not ready (None: ready).
    pub fn not_ready(&self) -> Option<String> {
        if let Ok(p) = self.problem.read() {
            if let Some(p) = p.as_ref() {
                return Some(p.clone());
            }
        }
        (!self.checked.load(Ordering::Acquire))
            .then(|| "the start-up integrity check is still running".to_string())
    }

    fn set(&self, problem: Option<String>) {
        if let Ok(mut p) = self.problem.write() {
            *p = problem;
        }
        self.checked.store(true, Ordering::Release);
    }
}

/// Run the quick integrity check: waits up to [`START_BUDGET`], then
/// lets it finish in the background. Problems are logged as errors.
pub async fn start_check(store: Arc<dyn Store>) -> Arc<Health> {
    let health = Arc::new(Health::default());
    let task = {
        let health = health.clone();
        tokio::spawn(async move {
            let problem = match store.integrity_problems(false, MAX_PROBLEMS).await {
                Ok(p) if p.is_empty() => None,
                Ok(p) => Some(format!(
                    "the database failed its integrity check: {}",
                    p.join("; ")
                )),
                Err(e) => Some(format!("the integrity check could not run: {e}")),
            };
            match &problem {
                Some(p) => {
                    tracing::error!(problem = %p, "store is NOT ready: restore from a backup or run `evident-collector db check`")
                }
                None => tracing::info!("store integrity check passed"),
            }
            health.set(problem);
        })
    };
    let _ = tokio::time::timeout(START_BUDGET, task).await;
    health
}
