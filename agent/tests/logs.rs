//! Container logs end to end on real files: the shim's writer (`crilog::LogWriter`) producing
//! rotated, gzipped CRI files for several instances, and `nodelet::logs` reading them back
//! (order across gz/plain/live files, P-piece joining, --tail, --since, --timestamps,
//! --previous=N, pruning, following across rotations).

use std::time::{Duration, Instant};

use nodelet::logs::{self, Follower, LogEntry, ReadOptions, Which};
use nodelet_shim::crilog::LogWriter;
use nodelet_shim_protocol::crilog::{MAX_LINE, Stream, rotated_files};

fn texts(entries: &[LogEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| String::from_utf8(e.text.clone()).unwrap())
        .collect()
}

fn write_lines(w: &mut LogWriter, range: std::ops::Range<u32>) {
    for i in range {
        w.write(Stream::Stdout, format!("line {i}\n").as_bytes())
            .unwrap();
    }
}

#[test]
fn reads_an_instance_across_gzip_plain_and_live_files() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let live = logs::instance_path(dir, 0);
    let mut w = LogWriter::open(&live, 2048, 4).unwrap();
    // A long line split into P pieces, with stderr interleaved between its pieces.
    let long = "z".repeat(MAX_LINE * 2 + 5);
    w.write(Stream::Stdout, long.as_bytes()).unwrap();
    w.write(Stream::Stderr, b"err between\n").unwrap();
    w.write(Stream::Stdout, b"\n").unwrap();
    write_lines(&mut w, 0..300);
    let rotated = rotated_files(&live);
    assert_eq!(rotated.len(), 3, "{rotated:?}");
    assert!(rotated[0].to_str().unwrap().ends_with(".gz"));
    assert!(!rotated[2].to_str().unwrap().ends_with(".gz"));

    let all = logs::read(dir, 0, &ReadOptions::default()).unwrap();
    let txt = texts(&all);
    // Everything still on disk, in order, numbers consecutive, ending with the last line.
    let nums: Vec<u32> = txt
        .iter()
        .filter_map(|l| l.strip_prefix("line ").map(|n| n.parse().unwrap()))
        .collect();
    assert_eq!(*nums.last().unwrap(), 299);
    assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "{nums:?}");

    let tail = logs::read(
        dir,
        0,
        &ReadOptions {
            tail: Some(3),
            since: None,
        },
    )
    .unwrap();
    assert_eq!(texts(&tail), ["line 297", "line 298", "line 299"]);
    let rendered = String::from_utf8(logs::render(&tail, true)).unwrap();
    for (l, e) in rendered.lines().zip(&tail) {
        assert_eq!(
            l,
            format!("{} {}", e.time_text, String::from_utf8_lossy(&e.text))
        );
    }
    assert_eq!(
        String::from_utf8(logs::render(&tail, false)).unwrap(),
        "line 297\nline 298\nline 299\n"
    );
    let none = logs::read(
        dir,
        0,
        &ReadOptions {
            tail: None,
            since: Some(jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60)),
        },
    )
    .unwrap();
    assert!(none.is_empty());
}

#[test]
fn joins_partial_pieces_into_one_line() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let mut w = LogWriter::open(&logs::instance_path(dir, 0), 10 << 20, 5).unwrap();
    let long = "a".repeat(MAX_LINE * 2 + 5);
    w.write(Stream::Stdout, long.as_bytes()).unwrap();
    w.write(Stream::Stderr, b"err between\n").unwrap();
    w.write(Stream::Stdout, b"\nshort\n").unwrap();
    let e = logs::read(dir, 0, &ReadOptions::default()).unwrap();
    assert_eq!(texts(&e), ["err between", long.as_str(), "short"]);
    assert_eq!(e[0].stream, Stream::Stderr);
    // The joined line has the time of its first piece.
    assert!(e[1].time <= e[0].time);
}

#[test]
fn since_filters_by_line_time() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    std::fs::write(
        logs::instance_path(dir, 0),
        "2026-11-22T10:00:00.5Z stdout F old\n\
         not a cri line\n\
         2026-11-22T10:05:00.000000001Z stdout F new\n\
         2026-11-22T10:06:00Z stderr F newer\n",
    )
    .unwrap();
    let since: jiff::Timestamp = "2026-11-22T10:05:00Z".parse().unwrap();
    let e = logs::read(
        dir,
        0,
        &ReadOptions {
            tail: None,
            since: Some(since),
        },
    )
    .unwrap();
    assert_eq!(texts(&e), ["new", "newer"]);
    assert_eq!(e[0].time_text, "2026-11-22T10:05:00.000000001Z");
}

#[test]
fn previous_instances_and_pruning_after_restarts() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    // Six instances (five restarts), each with its own output and some rotation.
    for n in 0..6u32 {
        let mut w = LogWriter::open(&logs::instance_path(dir, n), 1024, 3).unwrap();
        for i in 0..40 {
            w.write(
                Stream::Stdout,
                format!("instance {n} line {i}\n").as_bytes(),
            )
            .unwrap();
        }
        logs::prune_instances(dir, 5).unwrap();
    }
    assert_eq!(logs::instances(dir).unwrap(), [1, 2, 3, 4, 5]);
    let last_line = |n: u32| {
        let e = logs::read(
            dir,
            n,
            &ReadOptions {
                tail: Some(1),
                since: None,
            },
        )
        .unwrap();
        texts(&e).pop().unwrap()
    };
    // Instance 5 runs: --previous=3 is instance 2.
    let i = logs::select_instance(dir, Some(5), Which::Previous(3)).unwrap();
    assert_eq!(last_line(i), "instance 2 line 39");
    let i = logs::select_instance(dir, Some(5), Which::Previous(1)).unwrap();
    assert_eq!(last_line(i), "instance 4 line 39");
    assert!(logs::select_instance(dir, Some(5), Which::Previous(5)).is_err());
    assert!(matches!(
        logs::read(dir, 0, &ReadOptions::default()),
        Err(logs::LogError::NoInstance { instance: 0, .. })
    ));
}

fn follow_until(f: &mut Follower, want: usize, got: &mut Vec<LogEntry>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < want && Instant::now() < deadline {
        got.extend(f.poll().unwrap());
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn follow_survives_rotation_and_compression() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().to_path_buf();
    let live = logs::instance_path(&dir, 2);
    let mut w = LogWriter::open(&live, 16 * 1024, 5).unwrap();
    write_lines(&mut w, 0..10);
    let (mut f, initial) = Follower::open(
        &dir,
        2,
        &ReadOptions {
            tail: Some(2),
            since: None,
        },
    )
    .unwrap();
    assert_eq!(texts(&initial), ["line 8", "line 9"]);
    // A writer in another thread: about eight rotations (one per ~360 lines), each well apart
    // from the next compared to the follower's 5 ms polls.
    let writer = std::thread::spawn(move || {
        for step in 0..15u32 {
            write_lines(&mut w, 10 + step * 200..10 + (step + 1) * 200);
            std::thread::sleep(Duration::from_millis(30));
        }
        w
    });
    let mut got = Vec::new();
    follow_until(&mut f, 3000, &mut got);
    writer.join().unwrap();
    follow_until(&mut f, 3000, &mut got);
    let nums: Vec<u32> = texts(&got)
        .iter()
        .map(|l| l.strip_prefix("line ").unwrap().parse().unwrap())
        .collect();
    assert_eq!(nums, (10..3010).collect::<Vec<u32>>());
    assert!(
        rotated_files(&live)
            .iter()
            .any(|p| p.extension().unwrap() == "gz")
    );
    assert!(f.poll().unwrap().is_empty());
}

#[test]
fn follow_waits_for_a_live_file_that_does_not_exist_yet() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let (mut f, initial) = Follower::open(dir, 0, &ReadOptions::default()).unwrap();
    assert!(initial.is_empty());
    assert!(f.poll().unwrap().is_empty());
    let mut w = LogWriter::open(&logs::instance_path(dir, 0), 1 << 20, 2).unwrap();
    w.write(Stream::Stdout, b"hello\npart").unwrap();
    let mut got = Vec::new();
    follow_until(&mut f, 1, &mut got);
    assert_eq!(texts(&got), ["hello"]);
    w.write(Stream::Stdout, b"ial\n").unwrap();
    follow_until(&mut f, 2, &mut got);
    assert_eq!(texts(&got), ["hello", "partial"]);
}

#[test]
fn a_file_compressed_after_listing_is_read_from_its_gz() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let live = logs::instance_path(dir, 0);
    let mut w = LogWriter::open(&live, 2048, 5).unwrap();
    write_lines(&mut w, 0..100);
    let files = logs::instance_files(dir, 0);
    let plain = files
        .iter()
        .find(|f| f != &&live && f.extension().is_none_or(|e| e != "gz"))
        .unwrap()
        .clone();
    // Compress it the way the writer's next rotation would, as if it happened mid-read.
    nodelet_shim::crilog::compress(&plain).unwrap();
    let all = logs::read(dir, 0, &ReadOptions::default()).unwrap();
    assert_eq!(texts(&all).last().unwrap(), "line 99");
    let mut r = logs::read::open_file(&plain).unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(&mut *r, &mut first).unwrap();
    assert!(first.contains(" stdout F line "), "{first}");
}

/// Follows a 4 KiB-rotated log (the writer keeps four rotated files) through `rotations`
/// rotations between two polls: every line must come, in order.
fn follow_through_rotations_between_two_polls(rotations: usize) {
    let (got, want, skips) = rotate_between_two_polls(rotations);
    assert_eq!(got, want);
    assert!(skips.is_empty(), "{skips:?}");
}

/// What a follower reads of lines `want` after `rotations` rotations between two polls, and
/// the skips it reports.
fn rotate_between_two_polls(rotations: usize) -> (Vec<u32>, Vec<u32>, Vec<String>) {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let live = logs::instance_path(dir, 0);
    // ~45 bytes a line: a 4 KiB file holds about 90 lines.
    let mut w = LogWriter::open(&live, 4096, 5).unwrap();
    write_lines(&mut w, 0..10);
    let (mut f, initial) = Follower::open(dir, 0, &ReadOptions::default()).unwrap();
    assert_eq!(initial.len(), 10);
    // Rotated files by name without `.gz`: each one is one rotation, pruned or not.
    let names = |seen: &mut std::collections::HashSet<String>| {
        for p in rotated_files(&live) {
            seen.insert(p.display().to_string().trim_end_matches(".gz").to_string());
        }
        seen.len()
    };
    let mut seen = std::collections::HashSet::new();
    let before = names(&mut seen);
    let mut i = 10;
    while names(&mut seen) < before + rotations {
        write_lines(&mut w, i..i + 1);
        i += 1;
    }
    write_lines(&mut w, i..i + 5);
    i += 5;
    // Every rotation but the last compressed the file before it.
    let gz = rotated_files(&live)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "gz"))
        .count();
    assert!(gz >= rotations.min(4) - 1, "{gz} compressed");
    let got = f.poll().unwrap();
    let nums: Vec<u32> = texts(&got)
        .iter()
        .map(|l| l.strip_prefix("line ").unwrap().parse().unwrap())
        .collect();
    (nums, (10..i).collect(), f.take_skips())
}

/// More rotations between two polls than the writer keeps files: the pruned ones are gone,
/// and the follower says where lines are missing instead of skipping silently.
#[test]
fn follow_says_where_pruned_files_were_skipped() {
    let (got, want, skips) = rotate_between_two_polls(7);
    assert!(got.len() < want.len(), "nothing was pruned");
    assert_eq!(skips.len(), 1, "{skips:?}");
    assert!(skips[0].contains("are missing"), "{skips:?}");
    // What it did read is in order and ends with the last lines.
    assert!(got.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(got.last(), want.last());
}

/// Two rotations before the next poll: the held file is rotated and then compressed, the next
/// one is written and rotated without ever being seen live.
#[test]
fn follow_reads_a_file_rotated_entirely_between_two_polls() {
    follow_through_rotations_between_two_polls(2);
}

/// Issue 16: a flooding container rotates several times between two polls; the files
/// compressed in between used to be skipped silently.
#[test]
fn follow_reads_every_file_rotated_between_two_polls() {
    follow_through_rotations_between_two_polls(3);
}
