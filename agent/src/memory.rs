//! The agent's heap, kept small: glibc's allocator keeps memory freed after a burst (a hundred
//! pods starting at once, large API lists) in its arenas, so the resident set would stay at
//! the burst's high-water mark. Two arenas instead of eight per core, and free memory handed
//! back to the kernel when a periodic check finds more than a little of it.
//!
//! One arena, not two: the agent's allocations are not contended (two runtime workers and
//! short blocking jobs), and every arena keeps its own partly used pages after a burst.
//! Measured side by side (bench/pods `deployments`, 110 pods, 3 rounds each, same build with
//! the arena count forced from outside): 23.8 / 25.1 / 24.1 MiB with one arena, 25.0 / 26.8 /
//! 24.9 with two; `scale` 24.8 vs 25.2; times to all Running unchanged.

use std::time::Duration;

/// How often the free heap is checked: after a burst (110 pods starting, a controller pass
/// over them) the heap is trimmed within a second, while an idle agent only reads its books.
pub const TRIM_PERIOD: Duration = Duration::from_secs(1);

/// Free heap worth giving back.
pub const TRIM_THRESHOLD: usize = 1 << 20;

/// At start, before the runtime's threads exist: one malloc arena for all threads.
pub fn limit_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes the allocator's tuning.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// The allocator's counters: bytes in use, and free bytes it holds (not returned to the
/// kernel; the free bins and the fast bins).
fn heap() -> (usize, usize) {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: mallinfo2 reads the allocator's counters.
        let mi = unsafe { libc::mallinfo2() };
        (mi.uordblks, mi.fordblks + mi.fsmblks)
    }
    #[cfg(not(target_env = "gnu"))]
    (0, 0)
}

/// Heap activity smaller than this since the last trim is not worth another one.
const TRIM_ACTIVITY: usize = 64 << 10;

/// Resident anonymous memory in bytes (`resident - shared` of /proc/self/statm), 0 if unknown.
fn resident_anon() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let mut f = statm
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse::<usize>().unwrap_or(0));
    let (resident, shared) = (f.next().unwrap_or(0), f.next().unwrap_or(0));
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    resident.saturating_sub(shared) * page
}

/// Gives free heap back to the kernel when more than [`TRIM_THRESHOLD`] is free and something
/// happened since the last trim; returns whether it trimmed. Trimmed pages still count as free
/// in the allocator's books, and freed chunks that were reused and freed again are resident
/// again with the books unchanged, so "something happened" is: bytes in use, free bytes or
/// the resident anonymous memory moved by [`TRIM_ACTIVITY`]. An idle agent does not trim
/// again; a busy one trims each period.
pub fn trim() -> bool {
    static LAST: std::sync::Mutex<Reading> = std::sync::Mutex::new(Reading {
        used: 0,
        free: 0,
        anon: 0,
    });
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    if !worth_trimming(&last, &Reading::now()) {
        return false;
    }
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
    *last = Reading::now();
    true
}

/// The allocator's books and the resident anonymous memory at one time (bytes).
#[derive(Debug, Clone, Copy)]
struct Reading {
    used: usize,
    free: usize,
    anon: usize,
}

impl Reading {
    fn now() -> Reading {
        let (used, free) = heap();
        Reading {
            used,
            free,
            anon: resident_anon(),
        }
    }
}

/// More than a little is free, and the heap or the resident set moved since the last trim.
fn worth_trimming(last: &Reading, now: &Reading) -> bool {
    let active = now.used.abs_diff(last.used) >= TRIM_ACTIVITY
        || now.free.abs_diff(last.free) >= TRIM_ACTIVITY
        || now.anon >= last.anon + TRIM_ACTIVITY;
    now.free >= TRIM_THRESHOLD && active
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
    use super::{Reading, worth_trimming};

    #[test]
    fn trims_only_after_activity_with_enough_free() {
        const M: usize = 1 << 20;
        let r = |used, free, anon| Reading { used, free, anon };
        let last = r(5 * M, 4 * M, 9 * M);
        assert!(!worth_trimming(&last, &last), "idle: no trim");
        assert!(
            !worth_trimming(&last, &r(5 * M + 1000, 4 * M, 9 * M)),
            "noise"
        );
        assert!(worth_trimming(&last, &r(6 * M, 4 * M, 9 * M)), "use moved");
        assert!(worth_trimming(&last, &r(5 * M, 3 * M, 9 * M)), "free moved");
        assert!(
            worth_trimming(&last, &r(5 * M, 4 * M, 11 * M)),
            "reused and freed again"
        );
        assert!(
            !worth_trimming(&last, &r(5 * M, 4 * M, 8 * M)),
            "resident shrank"
        );
        assert!(
            !worth_trimming(&last, &r(9 * M, M / 2, 12 * M)),
            "too little free"
        );
    }

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
        // The holes are reused and freed again: resident again, and trimmed again.
        for b in blocks.iter_mut().step_by(2) {
            *b = Some(vec![2u8; 8192]);
        }
        for b in blocks.iter_mut().step_by(2) {
            *b = None;
        }
        let before = resident_kib();
        assert!(super::trim(), "reused and freed: trimmed again");
        assert!(resident_kib() + 2048 < before);
        drop(blocks);
    }
}
