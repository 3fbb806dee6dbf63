//! How verification runs independent jobs: [`Parallel::map`] computes
//! `f(0..n)` and returns the values in index order, on as many threads as
//! the caller gives it. This crate spawns nothing itself; [`Serial`] runs
//! the jobs one after the other, and a reader with threads (the
//! collector's streaming `verify`) brings its own implementation. The
//! report never depends on which: every job is pure, and what follows
//! from the values is applied in index order.

/// Runs independent jobs and returns their values in index order.
pub trait Parallel: Sync {
    /// `f(0), f(1), …, f(n - 1)`, in that order.
    fn map<T: Send, F: Fn(usize) -> T + Sync>(&self, n: usize, f: F) -> Vec<T>;
}

/// Every job on the calling thread, in order.
pub struct Serial;

impl Parallel for Serial {
    fn map<T: Send, F: Fn(usize) -> T + Sync>(&self, n: usize, f: F) -> Vec<T> {
        (0..n).map(f).collect()
    }
}
