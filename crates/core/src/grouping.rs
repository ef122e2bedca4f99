//! Packing files into groups: the plans of steps 1.1 and 2.1.
//!
//! Both planners are pure functions of their input: the same files give the
//! same groups in the same order, whatever order they were listed in. Groups
//! never mix keys (tables for snapshot groups, table + partition for partition
//! groups).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::manifest::DataFile;

const MIB: u64 = 1024 * 1024;
/// Smallest group `auto` picks: below this, per-invocation overhead dominates.
pub const AUTO_MIN_GROUP: u64 = 32 * MIB;
/// Largest group `auto` picks: what one worker reads, sorts and writes well
/// inside one Lambda invocation (15 minutes) while streaming.
pub const AUTO_MAX_GROUP: u64 = 512 * MIB;
/// Past this many groups, `auto` grows groups beyond [`AUTO_MAX_GROUP`] rather
/// than fan out further.
pub const AUTO_MAX_GROUPS: u64 = 10_000;

/// Statistics of a snapshot's files, recorded in the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileStats {
    /// Number of files.
    pub n_file: u64,
    /// Total bytes.
    pub total_size: u64,
    /// Smallest file.
    pub min_size: u64,
    /// Median file.
    pub median_size: u64,
    /// 90th percentile file.
    pub p90_size: u64,
    /// Largest file.
    pub max_size: u64,
    /// Total records, when every file's count is known.
    pub n_record: Option<u64>,
    /// Number of distinct tables.
    pub n_table: u64,
}

impl FileStats {
    /// Statistics of `files`.
    pub fn of(files: &[DataFile]) -> Self {
        let mut sizes: Vec<u64> = files.iter().map(|f| f.size).collect();
        sizes.sort_unstable();
        let pick = |q: f64| -> u64 {
            if sizes.is_empty() {
                0
            } else {
                sizes[((sizes.len() - 1) as f64 * q).round() as usize]
            }
        };
        let tables: BTreeSet<Option<&str>> = files.iter().map(|f| f.table.as_deref()).collect();
        FileStats {
            n_file: files.len() as u64,
            total_size: sizes.iter().sum(),
            min_size: pick(0.0),
            median_size: pick(0.5),
            p90_size: pick(0.9),
            max_size: pick(1.0),
            n_record: crate::manifest::total_records(files),
            n_table: tables.len() as u64,
        }
    }
}

/// The group size `auto` chooses, and why.
pub fn auto_group_size(stats: &FileStats, concurrency: usize) -> (u64, String) {
    let concurrency = concurrency.max(1) as u64;
    let even = stats.total_size.div_ceil(concurrency);
    let mut size = even.clamp(AUTO_MIN_GROUP, AUTO_MAX_GROUP);
    let mut reason = if even < AUTO_MIN_GROUP {
        format!(
            "{} bytes over {concurrency} workers is {even} bytes each, below the {AUTO_MIN_GROUP}-byte floor where per-worker overhead dominates",
            stats.total_size
        )
    } else if even > AUTO_MAX_GROUP {
        format!(
            "{} bytes over {concurrency} workers is {even} bytes each, above the {AUTO_MAX_GROUP}-byte ceiling one worker handles well; workers take several groups in turn",
            stats.total_size
        )
    } else {
        format!(
            "{} bytes spread evenly over {concurrency} workers",
            stats.total_size
        )
    };
    let floor_for_count = stats.total_size.div_ceil(AUTO_MAX_GROUPS);
    if floor_for_count > size {
        size = floor_for_count;
        reason = format!(
            "{} bytes would need more than {AUTO_MAX_GROUPS} groups of {AUTO_MAX_GROUP} bytes; groups grow to keep the Map at {AUTO_MAX_GROUPS} items",
            stats.total_size
        );
    }
    (size, reason)
}

/// Best-fit-decreasing bin packing of files into groups of at most `target`
/// bytes, never mixing keys. A file of `target` bytes or more is a group of
/// its own. Groups are ordered by key, then by when they were opened.
pub fn best_fit_decreasing<K: Ord>(
    files: &[DataFile],
    target: u64,
    key: impl Fn(&DataFile) -> K,
) -> Vec<Vec<DataFile>> {
    let mut out = Vec::new();
    for mut files in by_key(files, key).into_values() {
        files.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.uri.cmp(&b.uri)));
        let mut bins: Vec<Vec<DataFile>> = Vec::new();
        // Open bins by (remaining capacity, index): the best fit is the first
        // entry whose remaining capacity holds the file.
        let mut open: BTreeSet<(u64, usize)> = BTreeSet::new();
        for f in files {
            if f.size >= target {
                bins.push(vec![f]);
                continue;
            }
            match open.range((f.size, 0)..).next().copied() {
                Some((room, i)) => {
                    open.remove(&(room, i));
                    let left = room - f.size;
                    if left > 0 {
                        open.insert((left, i));
                    }
                    bins[i].push(f);
                }
                None => {
                    open.insert((target - f.size, bins.len()));
                    bins.push(vec![f]);
                }
            }
        }
        out.extend(bins);
    }
    out
}

/// How many groups [`balanced`] makes of a key's files, from their total bytes.
#[derive(Debug, Clone, Copy)]
pub enum Count {
    /// `round(total / target)`: groups as close to `target` as can be, some a
    /// little over it (partition groups, whose size is the lake files').
    Nearest(u64),
    /// `ceil(total / target)`: groups of at most about `target`, over it by
    /// less than a file (snapshot groups of an `auto` size, a share of the
    /// workers each: as many groups as workers, none a small leftover that
    /// would wait for a free one).
    AtMost(u64),
}

impl Count {
    fn of(self, total: u64) -> u64 {
        match self {
            Count::Nearest(target) => {
                let target = target.max(1);
                (total + target / 2) / target
            }
            Count::AtMost(target) => total.div_ceil(target.max(1)),
        }
    }
}

/// Splits each key's files into `count` groups (at least 1, at most one
/// per file) of near-equal size: largest file first into the lightest group.
/// Unlike [`best_fit_decreasing`], no group is a small leftover.
pub fn balanced<K: Ord>(
    files: &[DataFile],
    count: Count,
    key: impl Fn(&DataFile) -> K,
) -> Vec<Vec<DataFile>> {
    let mut out = Vec::new();
    for mut files in by_key(files, key).into_values() {
        files.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.uri.cmp(&b.uri)));
        let total: u64 = files.iter().map(|f| f.size).sum();
        let n = count.of(total).clamp(1, files.len().max(1) as u64) as usize;
        let mut bins: Vec<Vec<DataFile>> = vec![Vec::new(); n];
        let mut load: BTreeSet<(u64, usize)> = (0..n).map(|i| (0, i)).collect();
        for f in files {
            let (l, i) = load.pop_first().expect("n >= 1");
            load.insert((l + f.size, i));
            bins[i].push(f);
        }
        out.extend(bins.into_iter().filter(|b| !b.is_empty()));
    }
    out
}

fn by_key<K: Ord>(files: &[DataFile], key: impl Fn(&DataFile) -> K) -> BTreeMap<K, Vec<DataFile>> {
    let mut m: BTreeMap<K, Vec<DataFile>> = BTreeMap::new();
    for f in files {
        m.entry(key(f)).or_default().push(f.clone());
    }
    m
}

/// `groups` with none of more than `cap` files: a larger group is dealt,
/// largest file first, into the fewest groups of at most `cap` files, of
/// about equal bytes. Returns how many groups were split.
pub fn cap_files(groups: Vec<Vec<DataFile>>, cap: usize) -> (Vec<Vec<DataFile>>, usize) {
    let cap = cap.max(1);
    let mut split = 0;
    let mut out = Vec::with_capacity(groups.len());
    for mut group in groups {
        if group.len() <= cap {
            out.push(group);
            continue;
        }
        split += 1;
        group.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.uri.cmp(&b.uri)));
        let n = group.len().div_ceil(cap);
        let mut parts: Vec<Vec<DataFile>> = vec![Vec::with_capacity(cap); n];
        for (i, f) in group.into_iter().enumerate() {
            parts[i % n].push(f);
        }
        out.extend(parts);
    }
    (out, split)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_of_too_many_files_are_dealt_into_capped_ones() {
        let files: Vec<DataFile> = (0..25)
            .map(|i| DataFile::new(format!("f{i:02}"), 100 + i))
            .collect();
        let small = vec![DataFile::new("g", 1)];
        let (groups, split) = cap_files(vec![files, small], 10);
        assert_eq!(split, 1);
        let counts: Vec<usize> = groups.iter().map(Vec::len).collect();
        assert_eq!(counts, [9, 8, 8, 1]);
        let sizes: Vec<u64> = groups
            .iter()
            .map(|g| g.iter().map(|f| f.size).sum())
            .collect();
        assert!(sizes[0] - sizes[2] < 130, "{sizes:?}");
        assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), 26);
    }

    fn f(name: &str, size: u64) -> DataFile {
        DataFile::new(name, size)
    }

    fn names(groups: &[Vec<DataFile>]) -> Vec<Vec<&str>> {
        groups
            .iter()
            .map(|g| g.iter().map(|f| f.uri.as_str()).collect())
            .collect()
    }

    #[test]
    fn best_fit_decreasing_by_hand() {
        // Target 10. Sorted: a9 b6 c5 d4 e3 f2 g1 (sizes).
        // a9 -> new bin0 (room 1); b6 -> bin1 (4); c5 -> bin2 (5);
        // d4 -> best fit is bin1 (room 4 -> 0, closed); e3 -> bin2 (5 -> 2);
        // f2 -> bin2 (2 -> 0); g1 -> bin0 (1 -> 0).
        let files = [
            f("g", 1),
            f("c", 5),
            f("a", 9),
            f("e", 3),
            f("b", 6),
            f("f", 2),
            f("d", 4),
        ];
        let groups = best_fit_decreasing(&files, 10, |_| ());
        assert_eq!(
            names(&groups),
            vec![vec!["a", "g"], vec!["b", "d"], vec!["c", "e", "f"]]
        );
        let mut shuffled = files.to_vec();
        shuffled.reverse();
        assert_eq!(
            best_fit_decreasing(&shuffled, 10, |_| ()),
            groups,
            "order-independent"
        );
    }

    #[test]
    fn big_files_alone_and_keys_never_mix() {
        let mut t1 = f("t1-big", 50);
        t1.table = Some("d/s/t1".into());
        let mut t1s = f("t1-small", 3);
        t1s.table = Some("d/s/t1".into());
        let mut t2 = f("t2-small", 3);
        t2.table = Some("d/s/t2".into());
        let groups = best_fit_decreasing(&[t2, t1s, t1], 10, |f| f.table.clone());
        assert_eq!(
            names(&groups),
            vec![vec!["t1-big"], vec!["t1-small"], vec!["t2-small"]]
        );
    }

    #[test]
    fn balanced_by_hand() {
        // Total 26, target 10 -> round(2.6) = 3 groups. Largest first into the
        // lightest group (ties: lowest index): a9->g0, b7->g1, c5->g2,
        // d3->g2 (8), e1->g1 (8), f1->g1 (g1 and g2 both at 8; g1 first).
        let files = [
            f("a", 9),
            f("b", 7),
            f("c", 5),
            f("d", 3),
            f("e", 1),
            f("f", 1),
        ];
        let groups = balanced(&files, Count::Nearest(10), |_| ());
        assert_eq!(
            names(&groups),
            vec![vec!["a"], vec!["b", "e", "f"], vec!["c", "d"]]
        );
        let one = balanced(&[f("x", 1), f("y", 1)], Count::Nearest(100), |_| ());
        assert_eq!(names(&one), vec![vec!["x", "y"]]);
    }

    #[test]
    fn at_most_rounds_up_where_best_fit_leaves_a_leftover() {
        // Seven files of 3, target 11: best fit fills bins with 3 files (9)
        // and leaves a bin of one; ceil(21 / 11) = 2 balanced groups instead.
        let files: Vec<DataFile> = (0..7).map(|i| f(&format!("{i}"), 3)).collect();
        let sizes = |groups: Vec<Vec<DataFile>>| -> Vec<u64> {
            groups
                .iter()
                .map(|g| g.iter().map(|f| f.size).sum())
                .collect()
        };
        assert_eq!(sizes(best_fit_decreasing(&files, 11, |_| ())), [9, 9, 3]);
        assert_eq!(sizes(balanced(&files, Count::AtMost(11), |_| ())), [12, 9]);
        // round(21 / 15) = 1 where ceil(21 / 15) = 2.
        assert_eq!(sizes(balanced(&files, Count::Nearest(15), |_| ())), [21]);
        assert_eq!(sizes(balanced(&files, Count::AtMost(15), |_| ())), [12, 9]);
    }

    #[test]
    fn auto_size_bounds() {
        let stats = |total| FileStats {
            n_file: 100,
            total_size: total,
            min_size: 1,
            median_size: 1,
            p90_size: 1,
            max_size: 1,
            n_record: None,
            n_table: 1,
        };
        assert_eq!(auto_group_size(&stats(10 * MIB), 4).0, AUTO_MIN_GROUP);
        assert_eq!(auto_group_size(&stats(4 * 1024 * MIB), 16).0, 256 * MIB);
        assert_eq!(
            auto_group_size(&stats(1024 * 1024 * MIB), 100).0,
            AUTO_MAX_GROUP
        );
        let (huge, why) = auto_group_size(&stats(10_000 * 1024 * MIB), 100);
        assert_eq!(huge, 1024 * MIB);
        assert!(why.contains("10000"), "{why}");
    }

    #[test]
    fn stats() {
        let s = FileStats::of(&[f("a", 1), f("b", 5), f("c", 9)]);
        assert_eq!(
            (
                s.n_file,
                s.total_size,
                s.min_size,
                s.median_size,
                s.max_size
            ),
            (3, 15, 1, 5, 9)
        );
    }
}
