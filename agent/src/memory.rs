//! The agent's heap, kept small: glibc's allocator keeps memory freed after a burst (a hundred
//! pods starting at once, large API lists) in its arenas, so the resident set would stay at
//! the burst's high-water mark. Two arenas instead of eight per core, and free memory handed
//! back to the kernel when a periodic check finds more than a little of it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How often the free heap is checked.
pub const TRIM_PERIOD: Duration = Duration::from_secs(5);

/// Free heap worth giving back.
pub const TRIM_THRESHOLD: usize = 1 << 20;

/// At start, before the runtime's threads exist: at most two malloc arenas.
pub fn limit_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes the allocator's tuning.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Free bytes the allocator holds (not in use, not returned to the kernel).
pub fn free_heap() -> usize {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: mallinfo2 reads the allocator's counters.
        let mi = unsafe { libc::mallinfo2() };
        mi.fordblks
    }
    #[cfg(not(target_env = "gnu"))]
    0
}

/// Gives free heap back to the kernel when more than [`TRIM_THRESHOLD`] was freed since the
/// last trim; returns whether it trimmed. (Trimmed memory still counts as free in the
/// allocator's books, so the last count after a trim is the baseline.)
pub fn trim() -> bool {
    static BASELINE: AtomicUsize = AtomicUsize::new(0);
    let free = free_heap();
    if free < BASELINE.load(Ordering::Relaxed) + TRIM_THRESHOLD {
        if free < BASELINE.load(Ordering::Relaxed) {
            // Freed memory was reused since: lower the baseline.
            BASELINE.store(free, Ordering::Relaxed);
        }
        return false;
    }
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
    BASELINE.store(free_heap(), Ordering::Relaxed);
    true
}

/// Trims every [`TRIM_PERIOD`], forever (a task on the agent's runtime).
pub async fn trim_periodically() {
    let mut t = tokio::time::interval(TRIM_PERIOD);
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        t.tick().await;
        trim();
    }
}

#[cfg(test)]
mod tests {
    fn resident_kib() -> u64 {
        let s = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: u64 = s.split_whitespace().nth(1).unwrap().parse().unwrap();
        pages * 4
    }

    #[test]
    fn freed_memory_is_given_back_once() {
        if !cfg!(target_env = "gnu") {
            return;
        }
        // 16 MiB in 8 KiB blocks (below the mmap threshold: they live in the heap), then every
        // other block freed: 8 MiB of holes the allocator keeps unless trimmed.
        let mut blocks: Vec<Option<Vec<u8>>> = (0..2048).map(|_| Some(vec![1u8; 8192])).collect();
        for b in blocks.iter_mut().step_by(2) {
            *b = None;
        }
        let before = resident_kib();
        assert!(super::trim(), "8 MiB freed: trimmed");
        let after = resident_kib();
        assert!(
            after + 2048 < before,
            "resident {before} KiB → {after} KiB after the trim"
        );
        drop(blocks);
    }
}
