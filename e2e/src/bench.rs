//! Small measurement helpers shared by the bench binaries (`sim-bench`, `analysis-bench`).

/// Resident set size of this process in MiB (from `/proc/self/status`; 0 where that is unavailable).
pub fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: u32 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    f64::from(kib) / 1024.0
}

/// Nearest-rank percentile (`pct` in 0..=100) of samples sorted ascending; `None` when there are none.
pub fn percentile<T: Copy>(sorted: &[T], pct: usize) -> Option<T> {
    let last = sorted.len().checked_sub(1)?;
    let idx = (sorted.len() * pct).div_ceil(100).saturating_sub(1);
    Some(sorted[idx.min(last)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        assert_eq!(percentile(&v, 50), Some(5));
        assert_eq!(percentile(&v, 99), Some(10));
        assert_eq!(percentile(&v, 0), Some(1));
        assert_eq!(percentile::<u8>(&[], 50), None);
    }
}
