//! Independent jobs on every core.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Threads for `jobs` jobs: `requested`, or one per core, at least one and
/// at most one a job.
pub fn threads(requested: Option<usize>, jobs: usize) -> usize {
    requested
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |c| c.get()))
        .clamp(1, jobs.max(1))
}

/// Runs `job(k)` for every `k` in `0..n` on up to `workers` threads (one
/// per core when `None`), each thread taking the next job in order, and
/// returns the results in job order. When each job depends on `k` alone
/// (its own seeds, no shared state), the results are the same on any
/// number of threads. A job that panics panics the caller.
pub fn map<T: Send>(n: usize, workers: Option<usize>, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let workers = threads(workers, n);
    if workers == 1 {
        return (0..n).map(job).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<T>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let work = || loop {
        let k = next.fetch_add(1, Ordering::Relaxed);
        let Some(slot) = slots.get(k) else {
            break;
        };
        let out = job(k);
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(out);
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = (1..workers).map(|_| s.spawn(work)).collect();
        work();
        for h in handles {
            if let Err(panic) = h.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every job ran")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_job_order_on_any_number_of_threads() {
        let job = |k: usize| (k * k) as u64 ^ 0x5A;
        let one = map(100, Some(1), job);
        assert_eq!(one[7], 49 ^ 0x5A);
        for workers in [2, 3, 8] {
            assert_eq!(map(100, Some(workers), job), one, "{workers} threads");
        }
        assert!(map(0, None, job).is_empty());
    }
}
