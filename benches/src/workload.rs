//! A deterministic, node-exporter-like metrics workload.
//!
//! It models what a Prometheus server scraping `node_exporter` on a fleet of
//! hosts stores: per host about 450–1600 series (CPU seconds per core and mode,
//! `/proc/meminfo`, disks, network interfaces, filesystems, vmstat, netstat,
//! sockstat, timex, per-collector scrape durations, Go runtime and process
//! metrics, `*_info` constants, a request-latency histogram, and the `up` /
//! `scrape_*` series Prometheus adds). Values are produced the way the
//! exporters produce them, because that is what a lossless codec sees:
//!
//! - CPU seconds are clock ticks divided by 100 (`USER_HZ`), so they have two
//!   decimals; disk times are milliseconds divided by 1000;
//! - memory is pages × 4096, disk bytes are sectors × 512, filesystem space is
//!   blocks × 4096; packet and byte counters are plain integers;
//! - durations are nanoseconds divided by 1e9 (Go's `Duration.Seconds`); sums
//!   of durations and `node_time_seconds` are arbitrary floats;
//! - constants (`*_info`, sizes, limits) never change.
//!
//! Every target is scraped every `interval_ms` at its own phase, with one
//! jitter of up to ±`jitter_ms` per scrape shared by all series of the target.
//! The defaults (51 000 series, 2 h, 15 s, ±5 ms) give 24.48 M samples.
//!
//! Everything derives from the seed through integer hashing and IEEE basic
//! arithmetic (no `ln`/`exp`), so a seed gives the same samples on every
//! machine. Each series has its own random stream, so one series can be
//! generated alone ([`Workload::series_samples`]) and equals what
//! [`Workload::scrapes`] produces for it.

use std::ops::Range;

use model::{Label, Labels, Sample};

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadConfig {
    /// Total series; hosts are added until there are this many (the last host
    /// is cut short).
    pub series: usize,
    pub duration_ms: i64,
    pub interval_ms: i64,
    /// Each scrape's timestamp is off its ideal time by a uniform integer in
    /// `-jitter_ms..=jitter_ms`.
    pub jitter_ms: i64,
    /// Start of the first interval (targets start at their phase within it).
    pub start_ms: i64,
    pub seed: u64,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            series: 51_000,
            duration_ms: 2 * 3600 * 1000,
            interval_ms: 15_000,
            jitter_ms: 5,
            start_ms: 1_700_000_000_000,
            seed: 0x5eed_cafe,
        }
    }
}

impl WorkloadConfig {
    /// Scrapes of each target over the duration.
    pub fn scrapes_per_target(&self) -> usize {
        (self.duration_ms / self.interval_ms).max(0) as usize
    }
}

/// The broad shape of a series' values, for reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SeriesKind {
    /// Never changes (`*_info`, sizes, limits, always-zero error counters).
    Constant,
    /// Monotonic, integer units or ticks (`*_total`).
    Counter,
    /// Goes up and down in integer units (bytes, counts, load in hundredths).
    Gauge,
    /// A cumulative histogram bucket, `_count` or `_sum`.
    Histogram,
    /// Arbitrary floats: durations in seconds, sums of them, wall-clock time.
    Float,
}

/// One sample of [`Workload::samples`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WorkloadSample {
    pub t: i64,
    /// Index into [`Workload::labels`].
    pub series: usize,
    pub v: f64,
}

/// One scrape of one target: every series of the target at one timestamp.
#[derive(Clone, Debug, PartialEq)]
pub struct Scrape {
    pub target: usize,
    pub t: i64,
    /// The target's series, contiguous indexes into [`Workload::labels`].
    pub series: Range<usize>,
    /// `values[i]` belongs to series `series.start + i`.
    pub values: Vec<f64>,
}

/// The generated fleet: label sets and value generators.
#[derive(Clone, Debug)]
pub struct Workload {
    config: WorkloadConfig,
    targets: Vec<Target>,
    series: Vec<SeriesSpec>,
}

#[derive(Clone, Debug)]
struct Target {
    phase_ms: i64,
    series: Range<usize>,
}

#[derive(Clone, Debug)]
struct SeriesSpec {
    labels: Labels,
    target: usize,
    kind: SeriesKind,
    generator: Generator,
}

impl Workload {
    pub fn new(config: WorkloadConfig) -> Self {
        assert!(config.interval_ms > 0, "interval_ms must be positive");
        assert!(
            config.jitter_ms >= 0 && config.jitter_ms * 2 < config.interval_ms,
            "jitter_ms must be in 0..interval_ms/2"
        );
        let mut targets = Vec::new();
        let mut series = Vec::with_capacity(config.series);
        let mut host = 0u64;
        while series.len() < config.series {
            let mut rng = Rng::new(hash3(config.seed, 0x4057, host));
            let instance = format!("host-{host:04}.dc1.example.net:9100");
            let mut builder = HostBuilder {
                instance,
                rng: rng.fork(),
                series: Vec::new(),
                next_histogram: host * 16,
                seed: config.seed,
            };
            builder.build();
            let first = series.len();
            let target = targets.len();
            for (labels, kind, generator) in builder.series {
                if series.len() == config.series {
                    break;
                }
                series.push(SeriesSpec {
                    labels,
                    target,
                    kind,
                    generator,
                });
            }
            targets.push(Target {
                phase_ms: rng.below(config.interval_ms as u64) as i64,
                series: first..series.len(),
            });
            host += 1;
        }
        Workload {
            config,
            targets,
            series,
        }
    }

    pub fn config(&self) -> &WorkloadConfig {
        &self.config
    }

    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    pub fn target_count(&self) -> usize {
        self.targets.len()
    }

    /// Total samples over the duration.
    pub fn sample_count(&self) -> usize {
        self.series.len() * self.config.scrapes_per_target()
    }

    pub fn labels(&self, series: usize) -> &Labels {
        &self.series[series].labels
    }

    pub fn kind(&self, series: usize) -> SeriesKind {
        self.series[series].kind
    }

    /// The target (host) a series belongs to.
    pub fn target_of(&self, series: usize) -> usize {
        self.series[series].target
    }

    /// The series of one target.
    pub fn target_series(&self, target: usize) -> Range<usize> {
        self.targets[target].series.clone()
    }

    /// Timestamp of a target's `scrape`-th scrape (jitter included).
    pub fn scrape_time(&self, target: usize, scrape: usize) -> i64 {
        let config = &self.config;
        let span = 2 * config.jitter_ms as u64 + 1;
        let jitter =
            (hash3(config.seed, target as u64, scrape as u64) % span) as i64 - config.jitter_ms;
        config.start_ms
            + self.targets[target].phase_ms
            + scrape as i64 * config.interval_ms
            + jitter
    }

    /// Every scrape, interval by interval, targets in phase order within an
    /// interval (so timestamps are nearly, not strictly, ordered).
    pub fn scrapes(&self) -> Scrapes<'_> {
        let mut order: Vec<usize> = (0..self.targets.len()).collect();
        order.sort_by_key(|&target| (self.targets[target].phase_ms, target));
        Scrapes {
            workload: self,
            states: (0..self.series.len())
                .map(|s| self.initial_state(s))
                .collect(),
            order,
            interval: 0,
            position: 0,
        }
    }

    /// Every sample, in [`scrapes`](Self::scrapes) order.
    pub fn samples(&self) -> impl Iterator<Item = WorkloadSample> + '_ {
        self.scrapes().flat_map(|scrape| {
            let t = scrape.t;
            scrape
                .series
                .zip(scrape.values)
                .map(move |(series, v)| WorkloadSample { t, series, v })
        })
    }

    /// One series' samples over the whole duration, generated alone.
    pub fn series_samples(&self, series: usize) -> Vec<Sample> {
        let mut state = self.initial_state(series);
        let target = self.series[series].target;
        (0..self.config.scrapes_per_target())
            .map(|scrape| {
                let t = self.scrape_time(target, scrape);
                Sample::new(t, state.next(scrape, t, self.config.seed))
            })
            .collect()
    }

    fn initial_state(&self, series: usize) -> SeriesState {
        SeriesState {
            rng: Rng::new(hash3(self.config.seed, 0x5e41e5, series as u64)),
            generator: self.series[series].generator.clone(),
        }
    }
}

/// Iterator returned by [`Workload::scrapes`].
pub struct Scrapes<'a> {
    workload: &'a Workload,
    states: Vec<SeriesState>,
    order: Vec<usize>,
    interval: usize,
    position: usize,
}

impl Iterator for Scrapes<'_> {
    type Item = Scrape;

    fn next(&mut self) -> Option<Scrape> {
        let workload = self.workload;
        if self.interval >= workload.config.scrapes_per_target() || self.order.is_empty() {
            return None;
        }
        let target = self.order[self.position];
        let scrape = self.interval;
        let t = workload.scrape_time(target, scrape);
        let series = workload.targets[target].series.clone();
        let seed = workload.config.seed;
        let values = self.states[series.clone()]
            .iter_mut()
            .map(|state| state.next(scrape, t, seed))
            .collect();
        self.position += 1;
        if self.position == self.order.len() {
            self.position = 0;
            self.interval += 1;
        }
        Some(Scrape {
            target,
            t,
            series,
            values,
        })
    }
}

// ───────────────────────────── value generators ─────────────────────────────

/// How integer units become the exposed float, as the exporters compute it.
#[derive(Clone, Copy, Debug)]
enum Scale {
    /// `units as f64`.
    Units,
    /// `units as f64 / divisor` (ticks per second, ms per second, ...).
    Divide(f64),
    /// `units as f64 * factor` (page size, sector size, ...).
    Multiply(f64),
}

impl Scale {
    fn apply(self, units: i64) -> f64 {
        match self {
            Scale::Units => units as f64,
            Scale::Divide(divisor) => units as f64 / divisor,
            Scale::Multiply(factor) => units as f64 * factor,
        }
    }
}

#[derive(Clone, Debug)]
enum Generator {
    Constant(f64),
    /// Monotonic integer units: each scrape adds `max(0, mean + sd·N(0,1))`,
    /// or nothing with probability `idle`.
    Counter {
        units: i64,
        mean: f64,
        sd: f64,
        idle: f64,
        scale: Scale,
    },
    /// A mean-reverting random walk in integer units that moves with
    /// probability `change` per scrape.
    Gauge {
        units: i64,
        center: i64,
        sd: f64,
        change: f64,
        min: i64,
        scale: Scale,
    },
    /// A fresh duration each scrape (or the previous one, with probability
    /// `hold`), in whole nanoseconds, exposed as seconds.
    Duration {
        mean_ns: f64,
        sd_ns: f64,
        hold: f64,
        current_ns: i64,
    },
    /// `node_time_seconds`: the scrape's wall-clock time with nanoseconds.
    UnixTime,
    /// `node_timex_frequency_adjustment_ratio`: `1 + freq / 65536 / 1e6`.
    FrequencyRatio {
        freq: i64,
        change: f64,
    },
    /// One series of a histogram: a cumulative bucket (`Some(index)`), or
    /// `_count` (`None`), both integers.
    HistogramCount {
        histogram: Histogram,
        bucket: Option<usize>,
        count: i64,
    },
    /// A histogram's `_sum`: a float accumulated by additions.
    HistogramSum {
        histogram: Histogram,
        sum: f64,
    },
}

/// Request latencies observed by one histogram; every series of the histogram
/// derives the same per-scrape observations from `id`.
#[derive(Clone, Copy, Debug)]
struct Histogram {
    id: u64,
    requests_per_scrape: f64,
    /// Probability of an observation in each bucket (the last one is +Inf).
    shares: &'static [f64],
}

const LATENCY_BUCKETS: [&str; 12] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
];
const LATENCY_MIDPOINTS: [f64; 12] = [
    0.003, 0.0075, 0.0175, 0.0375, 0.075, 0.175, 0.375, 0.75, 1.75, 3.75, 7.5, 15.0,
];
const FAST_SHARES: [f64; 12] = [
    0.55, 0.2, 0.12, 0.06, 0.03, 0.02, 0.01, 0.005, 0.003, 0.001, 0.0005, 0.0005,
];
const SLOW_SHARES: [f64; 12] = [
    0.05, 0.1, 0.2, 0.25, 0.2, 0.1, 0.05, 0.03, 0.015, 0.004, 0.0009, 0.0001,
];

impl Histogram {
    /// Non-cumulative observations per bucket in one scrape interval, and the
    /// sum of their latencies.
    fn step(&self, scrape: usize, seed: u64) -> ([i64; 12], f64) {
        let mut rng = Rng::new(hash3(seed, self.id, scrape as u64));
        let expected = self.requests_per_scrape;
        let total = (expected + expected.sqrt() * rng.normal()).round().max(0.0) as i64;
        let mut counts = [0i64; 12];
        let mut remaining = total;
        let mut share_left = 1.0;
        let mut sum = 0.0;
        for (bucket, &share) in self.shares.iter().enumerate() {
            let count = if bucket == self.shares.len() - 1 || share_left <= share {
                remaining
            } else {
                let p = share / share_left;
                let mean = remaining as f64 * p;
                let sd = (mean * (1.0 - p)).sqrt();
                ((mean + sd * rng.normal()).round().max(0.0) as i64).min(remaining)
            };
            counts[bucket] = count;
            remaining -= count;
            share_left -= share;
            for _ in 0..count.min(8) {
                sum += LATENCY_MIDPOINTS[bucket] * (0.6 + 0.8 * rng.unit());
            }
            if count > 8 {
                sum += LATENCY_MIDPOINTS[bucket] * (count - 8) as f64;
            }
        }
        (counts, sum)
    }
}

#[derive(Clone, Debug)]
struct SeriesState {
    rng: Rng,
    generator: Generator,
}

impl SeriesState {
    fn next(&mut self, scrape: usize, t_ms: i64, seed: u64) -> f64 {
        let rng = &mut self.rng;
        match &mut self.generator {
            Generator::Constant(v) => *v,
            Generator::Counter {
                units,
                mean,
                sd,
                idle,
                scale,
            } => {
                if scrape > 0 && !rng.chance(*idle) {
                    *units += (*mean + *sd * rng.normal()).round().max(0.0) as i64;
                }
                scale.apply(*units)
            }
            Generator::Gauge {
                units,
                center,
                sd,
                change,
                min,
                scale,
            } => {
                if scrape > 0 && rng.chance(*change) {
                    let pull = (*center - *units) as f64 * 0.05;
                    *units = (*units + (pull + *sd * rng.normal()).round() as i64).max(*min);
                }
                scale.apply(*units)
            }
            Generator::Duration {
                mean_ns,
                sd_ns,
                hold,
                current_ns,
            } => {
                if scrape == 0 || !rng.chance(*hold) {
                    *current_ns = (*mean_ns + *sd_ns * rng.normal()).round().max(1_000.0) as i64;
                }
                // Go's Duration.Seconds() for durations under a second.
                *current_ns as f64 / 1e9
            }
            Generator::UnixTime => {
                let nanos = t_ms * 1_000_000 + rng.below(1_000_000) as i64;
                nanos as f64 / 1e9
            }
            Generator::FrequencyRatio { freq, change } => {
                if rng.chance(*change) {
                    *freq += (200.0 * rng.normal()).round() as i64;
                }
                1.0 + *freq as f64 / 65536.0 / 1e6
            }
            Generator::HistogramCount {
                histogram,
                bucket,
                count,
            } => {
                if scrape > 0 {
                    let (counts, _) = histogram.step(scrape, seed);
                    let upto = bucket.map_or(counts.len(), |index| index + 1);
                    *count += counts[..upto].iter().sum::<i64>();
                }
                *count as f64
            }
            Generator::HistogramSum { histogram, sum } => {
                if scrape > 0 {
                    *sum += histogram.step(scrape, seed).1;
                }
                *sum
            }
        }
    }
}

// ───────────────────────────── hosts ─────────────────────────────

struct HostBuilder {
    instance: String,
    rng: Rng,
    series: Vec<(Labels, SeriesKind, Generator)>,
    next_histogram: u64,
    seed: u64,
}

const CPU_MODES: [&str; 8] = [
    "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
];

const MEMINFO_CONSTANT: [&str; 25] = [
    "MemTotal",
    "SwapTotal",
    "SwapFree",
    "SwapCached",
    "Unevictable",
    "Mlocked",
    "NFS_Unstable",
    "Bounce",
    "WritebackTmp",
    "CommitLimit",
    "VmallocTotal",
    "VmallocChunk",
    "HardwareCorrupted",
    "ShmemHugePages",
    "ShmemPmdMapped",
    "FileHugePages",
    "FilePmdMapped",
    "HugePages_Total",
    "HugePages_Free",
    "HugePages_Rsvd",
    "HugePages_Surp",
    "Hugepagesize",
    "Hugetlb",
    "DirectMap1G",
    "DirectMap2M",
];

/// Meminfo gauges that move: name, typical size in pages, walk sd in pages,
/// probability of changing per scrape.
const MEMINFO_MOVING: [(&str, i64, f64, f64); 22] = [
    ("MemFree", 2_000_000, 3000.0, 1.0),
    ("MemAvailable", 5_000_000, 3000.0, 1.0),
    ("Buffers", 60_000, 50.0, 0.6),
    ("Cached", 3_000_000, 1500.0, 1.0),
    ("Active", 2_500_000, 1000.0, 1.0),
    ("Inactive", 1_500_000, 800.0, 1.0),
    ("Active_anon", 1_000_000, 600.0, 1.0),
    ("Inactive_anon", 200_000, 100.0, 0.8),
    ("Active_file", 1_500_000, 700.0, 1.0),
    ("Inactive_file", 1_300_000, 700.0, 1.0),
    ("Dirty", 2_000, 300.0, 1.0),
    ("Writeback", 0, 3.0, 0.1),
    ("AnonPages", 1_100_000, 600.0, 1.0),
    ("Mapped", 150_000, 40.0, 0.7),
    ("Shmem", 20_000, 10.0, 0.5),
    ("KReclaimable", 200_000, 80.0, 0.9),
    ("Slab", 300_000, 100.0, 0.9),
    ("SReclaimable", 200_000, 80.0, 0.9),
    ("SUnreclaim", 100_000, 30.0, 0.8),
    ("KernelStack", 4_000, 8.0, 0.7),
    ("PageTables", 12_000, 20.0, 0.8),
    ("Committed_AS", 3_000_000, 2000.0, 1.0),
];

const DISK_NAMES: [&str; 6] = ["nvme0n1", "nvme1n1", "sda", "sdb", "dm-0", "dm-1"];
const FILESYSTEMS: [(&str, &str, &str); 8] = [
    ("/", "/dev/nvme0n1p2", "ext4"),
    ("/boot", "/dev/nvme0n1p1", "vfat"),
    ("/var/lib/docker", "/dev/nvme1n1", "xfs"),
    ("/run", "tmpfs", "tmpfs"),
    ("/run/lock", "tmpfs", "tmpfs"),
    ("/data", "/dev/sda1", "xfs"),
    ("/home", "/dev/mapper/vg0-home", "ext4"),
    ("/tmp", "tmpfs", "tmpfs"),
];
const COLLECTORS: [&str; 38] = [
    "arp",
    "bcache",
    "bonding",
    "btrfs",
    "conntrack",
    "cpu",
    "cpufreq",
    "diskstats",
    "dmi",
    "edac",
    "entropy",
    "fibrechannel",
    "filefd",
    "filesystem",
    "hwmon",
    "infiniband",
    "ipvs",
    "loadavg",
    "mdadm",
    "meminfo",
    "netclass",
    "netdev",
    "netstat",
    "nfs",
    "nfsd",
    "nvme",
    "os",
    "powersupplyclass",
    "pressure",
    "rapl",
    "schedstat",
    "selinux",
    "sockstat",
    "softnet",
    "stat",
    "textfile",
    "thermal_zone",
    "time",
];
const NETSTAT_COUNTERS: [(&str, f64); 28] = [
    ("Icmp6_InErrors", 0.0),
    ("Icmp6_InMsgs", 2.0),
    ("Icmp6_OutMsgs", 2.0),
    ("Icmp_InErrors", 0.0),
    ("Icmp_InMsgs", 5.0),
    ("Icmp_OutMsgs", 5.0),
    ("Ip6_InOctets", 2_000.0),
    ("Ip6_OutOctets", 2_000.0),
    ("IpExt_InOctets", 5_000_000.0),
    ("IpExt_OutOctets", 4_000_000.0),
    ("TcpExt_ListenDrops", 0.0),
    ("TcpExt_ListenOverflows", 0.0),
    ("TcpExt_SyncookiesFailed", 0.0),
    ("TcpExt_SyncookiesRecv", 0.0),
    ("TcpExt_SyncookiesSent", 0.0),
    ("TcpExt_TCPSynRetrans", 0.5),
    ("TcpExt_TCPTimeouts", 0.5),
    ("Tcp_ActiveOpens", 60.0),
    ("Tcp_InErrs", 0.0),
    ("Tcp_InSegs", 6_000.0),
    ("Tcp_OutRsts", 20.0),
    ("Tcp_OutSegs", 6_000.0),
    ("Tcp_PassiveOpens", 40.0),
    ("Tcp_RetransSegs", 3.0),
    ("Udp_InDatagrams", 300.0),
    ("Udp_InErrors", 0.0),
    ("Udp_NoPorts", 1.0),
    ("Udp_OutDatagrams", 300.0),
];

impl HostBuilder {
    fn add(&mut self, name: &str, extra: &[(&str, &str)], kind: SeriesKind, generator: Generator) {
        let mut labels = vec![
            Label::new(model::METRIC_NAME, name),
            Label::new("instance", self.instance.as_str()),
            Label::new("job", "node"),
        ];
        labels.extend(extra.iter().map(|&(n, v)| Label::new(n, v)));
        let labels = Labels::new(labels).expect("generated labels are valid");
        self.series.push((labels, kind, generator));
    }

    fn constant(&mut self, name: &str, extra: &[(&str, &str)], v: f64) {
        self.add(name, extra, SeriesKind::Constant, Generator::Constant(v));
    }

    /// A counter adding about `mean` units per scrape (0 makes a constant 0).
    fn counter(&mut self, name: &str, extra: &[(&str, &str)], start: i64, mean: f64, scale: Scale) {
        if mean == 0.0 {
            self.constant(name, extra, scale.apply(start));
            return;
        }
        let rng = &mut self.rng;
        // Rare events (errors, retransmits) are bursty; busy counters noisy.
        let idle = if mean < 1.0 {
            1.0 - mean
        } else {
            0.05 * rng.unit()
        };
        let sd = mean.max(1.0) * (0.1 + 0.4 * rng.unit());
        let generator = Generator::Counter {
            units: start,
            mean: mean.max(1.0),
            sd,
            idle,
            scale,
        };
        self.add(name, extra, SeriesKind::Counter, generator);
    }

    fn gauge(
        &mut self,
        name: &str,
        extra: &[(&str, &str)],
        center: i64,
        sd: f64,
        change: f64,
        scale: Scale,
    ) {
        let rng = &mut self.rng;
        let start = center + (sd * 3.0 * rng.normal()) as i64;
        let generator = Generator::Gauge {
            units: start.max(0),
            center,
            sd,
            change,
            min: 0,
            scale,
        };
        self.add(name, extra, SeriesKind::Gauge, generator);
    }

    fn duration(&mut self, name: &str, extra: &[(&str, &str)], mean_ns: f64, hold: f64) {
        let generator = Generator::Duration {
            mean_ns,
            sd_ns: mean_ns * 0.3,
            hold,
            current_ns: 0,
        };
        self.add(name, extra, SeriesKind::Float, generator);
    }

    fn histogram(
        &mut self,
        name: &str,
        handler: &str,
        requests_per_scrape: f64,
        shares: &'static [f64; 12],
    ) {
        let histogram = Histogram {
            id: hash3(self.seed, 0x4157, self.next_histogram),
            requests_per_scrape,
            shares,
        };
        self.next_histogram += 1;
        let start = self.rng.below(1_000_000) as i64;
        for (index, le) in LATENCY_BUCKETS.iter().enumerate() {
            let cumulative_share: f64 = shares[..=index].iter().sum();
            let generator = Generator::HistogramCount {
                histogram,
                bucket: Some(index),
                count: (start as f64 * cumulative_share) as i64,
            };
            self.add(
                &format!("{name}_bucket"),
                &[("handler", handler), ("le", le)],
                SeriesKind::Histogram,
                generator,
            );
        }
        let generator = Generator::HistogramCount {
            histogram,
            bucket: None,
            count: start,
        };
        self.add(
            &format!("{name}_count"),
            &[("handler", handler)],
            SeriesKind::Histogram,
            generator,
        );
        let generator = Generator::HistogramSum {
            histogram,
            sum: start as f64 * 0.021_7,
        };
        self.add(
            &format!("{name}_sum"),
            &[("handler", handler)],
            SeriesKind::Histogram,
            generator,
        );
    }

    fn build(&mut self) {
        let cpus = *self.rng.pick(&[4usize, 4, 8, 8, 8, 16, 16, 16, 32, 32, 64]);
        let disks = 1 + self.rng.below(4) as usize;
        let veths = self.rng.below(7) as usize;
        let filesystems = 3 + self.rng.below(6) as usize;
        let uptime_s = 86_400 * (1 + self.rng.below(200) as i64);
        let busy = 0.05 + 0.6 * self.rng.unit(); // fraction of CPU in use

        // CPU.
        for cpu in 0..cpus {
            let cpu = cpu.to_string();
            for mode in CPU_MODES {
                let fraction = match mode {
                    "idle" => 1.0 - busy,
                    "user" => busy * 0.65,
                    "system" => busy * 0.25,
                    "iowait" => busy * 0.05,
                    "softirq" => busy * 0.03,
                    "nice" => busy * 0.02 * self.rng.below(2) as f64,
                    "steal" => busy * 0.01 * self.rng.below(2) as f64,
                    _ => 0.0, // irq
                };
                let ticks_per_scrape = fraction * 15.0 * 100.0;
                let start = (fraction * uptime_s as f64 * 100.0) as i64;
                self.counter(
                    "node_cpu_seconds_total",
                    &[("cpu", &cpu), ("mode", mode)],
                    start,
                    ticks_per_scrape,
                    Scale::Divide(100.0),
                );
            }
            for mode in ["nice", "user"] {
                self.constant(
                    "node_cpu_guest_seconds_total",
                    &[("cpu", &cpu), ("mode", mode)],
                    0.0,
                );
            }
            self.gauge(
                "node_cpu_scaling_frequency_hertz",
                &[("cpu", &cpu)],
                2_400_000,
                300_000.0,
                0.5,
                Scale::Multiply(1000.0),
            );
            self.constant(
                "node_cpu_scaling_frequency_max_hertz",
                &[("cpu", &cpu)],
                3.5e9,
            );
            self.constant(
                "node_cpu_scaling_frequency_min_hertz",
                &[("cpu", &cpu)],
                8e8,
            );
        }

        // Memory, in 4 KiB pages exposed as bytes.
        let memory_pages = 4_194_304 * (1 + self.rng.below(16) as i64);
        for name in MEMINFO_CONSTANT {
            let pages = match name {
                "MemTotal" | "DirectMap2M" => memory_pages,
                "CommitLimit" => memory_pages / 2,
                "VmallocTotal" => 8_589_934_591,
                "Hugepagesize" => 512,
                _ => 0,
            };
            self.constant(
                &format!("node_memory_{name}_bytes"),
                &[],
                pages as f64 * 4096.0,
            );
        }
        for (name, pages, sd, change) in MEMINFO_MOVING {
            let scale = memory_pages as f64 / 8_388_608.0;
            let center = (pages as f64 * scale) as i64;
            self.gauge(
                &format!("node_memory_{name}_bytes"),
                &[],
                center,
                sd * scale,
                change,
                Scale::Multiply(4096.0),
            );
        }

        // Disks.
        for disk in &DISK_NAMES[..disks] {
            let device = [("device", *disk)];
            let reads = 10f64.powi(self.rng.below(4) as i32) * (1.0 + 9.0 * self.rng.unit());
            let writes = 10f64.powi(self.rng.below(4) as i32) * (1.0 + 9.0 * self.rng.unit());
            let up = uptime_s as f64 / 15.0;
            self.counter(
                "node_disk_reads_completed_total",
                &device,
                (reads * up) as i64,
                reads,
                Scale::Units,
            );
            self.counter(
                "node_disk_reads_merged_total",
                &device,
                (reads * up * 0.1) as i64,
                reads * 0.1,
                Scale::Units,
            );
            self.counter(
                "node_disk_read_bytes_total",
                &device,
                (reads * up * 64.0) as i64,
                reads * 64.0,
                Scale::Multiply(512.0),
            );
            self.counter(
                "node_disk_read_time_seconds_total",
                &device,
                (reads * up * 0.3) as i64,
                reads * 0.3,
                Scale::Divide(1000.0),
            );
            self.counter(
                "node_disk_writes_completed_total",
                &device,
                (writes * up) as i64,
                writes,
                Scale::Units,
            );
            self.counter(
                "node_disk_writes_merged_total",
                &device,
                (writes * up * 0.3) as i64,
                writes * 0.3,
                Scale::Units,
            );
            self.counter(
                "node_disk_written_bytes_total",
                &device,
                (writes * up * 48.0) as i64,
                writes * 48.0,
                Scale::Multiply(512.0),
            );
            self.counter(
                "node_disk_write_time_seconds_total",
                &device,
                (writes * up * 0.8) as i64,
                writes * 0.8,
                Scale::Divide(1000.0),
            );
            self.counter(
                "node_disk_io_time_seconds_total",
                &device,
                (writes * up * 0.5) as i64,
                (reads + writes) * 0.4,
                Scale::Divide(1000.0),
            );
            self.counter(
                "node_disk_io_time_weighted_seconds_total",
                &device,
                (writes * up) as i64,
                (reads + writes) * 0.9,
                Scale::Divide(1000.0),
            );
            self.gauge("node_disk_io_now", &device, 0, 0.7, 0.3, Scale::Units);
            self.counter(
                "node_disk_discards_completed_total",
                &device,
                0,
                0.0,
                Scale::Units,
            );
            self.counter(
                "node_disk_discards_merged_total",
                &device,
                0,
                0.0,
                Scale::Units,
            );
            self.counter(
                "node_disk_discarded_sectors_total",
                &device,
                0,
                0.0,
                Scale::Units,
            );
            self.counter(
                "node_disk_discard_time_seconds_total",
                &device,
                0,
                0.0,
                Scale::Divide(1000.0),
            );
            self.counter(
                "node_disk_flush_requests_total",
                &device,
                (writes * up * 0.05) as i64,
                writes * 0.05,
                Scale::Units,
            );
            self.counter(
                "node_disk_flush_requests_time_seconds_total",
                &device,
                (writes * up * 0.01) as i64,
                writes * 0.01,
                Scale::Divide(1000.0),
            );
            self.constant(
                "node_disk_info",
                &[("device", disk), ("major", "259"), ("minor", "0")],
                1.0,
            );
        }

        // Network interfaces.
        let mut interfaces = vec![("eth0", 1e6), ("lo", 1e4), ("docker0", 1e3)];
        let veth_names: Vec<String> = (0..veths)
            .map(|i| format!("veth{:07x}", self.rng.below(1 << 28) + i as u64))
            .collect();
        for name in &veth_names {
            interfaces.push((name.as_str(), 10f64.powi(self.rng.below(5) as i32)));
        }
        for (interface, bytes_per_s) in interfaces {
            let device = [("device", interface)];
            let bytes = bytes_per_s * 15.0 * (0.2 + self.rng.unit());
            let packets = bytes / 700.0;
            let up = uptime_s as f64 / 15.0;
            for direction in ["receive", "transmit"] {
                let metric = |what: &str| format!("node_network_{direction}_{what}_total");
                self.counter(
                    &metric("bytes"),
                    &device,
                    (bytes * up) as i64,
                    bytes,
                    Scale::Units,
                );
                self.counter(
                    &metric("packets"),
                    &device,
                    (packets * up) as i64,
                    packets,
                    Scale::Units,
                );
                self.counter(&metric("errs"), &device, 0, 0.0, Scale::Units);
                self.counter(&metric("drop"), &device, 3, packets * 1e-5, Scale::Units);
                self.counter(&metric("fifo"), &device, 0, 0.0, Scale::Units);
                self.counter(&metric("compressed"), &device, 0, 0.0, Scale::Units);
                let other = if direction == "receive" {
                    "frame"
                } else {
                    "colls"
                };
                self.counter(&metric(other), &device, 0, 0.0, Scale::Units);
                let other = if direction == "receive" {
                    "multicast"
                } else {
                    "carrier"
                };
                self.counter(&metric(other), &device, 17, packets * 1e-4, Scale::Units);
            }
            for (name, value) in [
                ("node_network_up", 1.0),
                ("node_network_mtu_bytes", 1500.0),
                ("node_network_speed_bytes", 1.25e9),
                ("node_network_carrier", 1.0),
                ("node_network_transmit_queue_length", 1000.0),
                ("node_network_iface_id", 2.0),
                ("node_network_iface_link", 2.0),
                ("node_network_iface_link_mode", 0.0),
                ("node_network_flags", 4099.0),
                ("node_network_address_assign_type", 0.0),
                ("node_network_dormant", 0.0),
                ("node_network_protocol_type", 1.0),
                ("node_network_net_dev_group", 0.0),
                ("node_network_carrier_changes_total", 2.0),
                ("node_network_carrier_up_changes_total", 1.0),
                ("node_network_carrier_down_changes_total", 1.0),
            ] {
                self.constant(name, &device, value);
            }
            self.constant(
                "node_network_info",
                &[
                    ("device", interface),
                    ("address", "02:42:ac:11:00:02"),
                    ("operstate", "up"),
                ],
                1.0,
            );
        }

        // Filesystems, in 4 KiB blocks.
        for &(mountpoint, device, fstype) in &FILESYSTEMS[..filesystems] {
            let labels = [
                ("device", device),
                ("fstype", fstype),
                ("mountpoint", mountpoint),
            ];
            let blocks = 262_144 * (1 + self.rng.below(512) as i64);
            let free = (blocks as f64 * (0.2 + 0.7 * self.rng.unit())) as i64;
            let churn = if fstype == "tmpfs" {
                1.0
            } else {
                10f64.powi(self.rng.below(4) as i32)
            };
            self.constant(
                "node_filesystem_size_bytes",
                &labels,
                blocks as f64 * 4096.0,
            );
            self.gauge(
                "node_filesystem_free_bytes",
                &labels,
                free,
                churn * 20.0,
                0.6,
                Scale::Multiply(4096.0),
            );
            self.gauge(
                "node_filesystem_avail_bytes",
                &labels,
                free - blocks / 20,
                churn * 20.0,
                0.6,
                Scale::Multiply(4096.0),
            );
            self.constant("node_filesystem_files", &labels, (blocks / 4) as f64);
            self.gauge(
                "node_filesystem_files_free",
                &labels,
                blocks / 5,
                churn,
                0.5,
                Scale::Units,
            );
            self.constant("node_filesystem_readonly", &labels, 0.0);
            self.constant("node_filesystem_device_error", &labels, 0.0);
        }

        // Kernel counters and gauges.
        let up = uptime_s / 15;
        let load = busy * cpus as f64;
        for (name, per_scrape) in [
            ("pgfault", 200_000.0 * busy),
            ("pgmajfault", 3.0),
            ("pgpgin", 5_000.0 * busy),
            ("pgpgout", 20_000.0 * busy),
            ("pswpin", 0.0),
            ("pswpout", 0.0),
            ("oom_kill", 0.0),
        ] {
            self.counter(
                &format!("node_vmstat_{name}"),
                &[],
                (per_scrape * up as f64) as i64,
                per_scrape,
                Scale::Units,
            );
        }
        for (name, per_scrape) in NETSTAT_COUNTERS {
            let per_scrape = per_scrape * 15.0 * (0.5 + self.rng.unit());
            self.counter(
                &format!("node_netstat_{name}"),
                &[],
                (per_scrape * up as f64) as i64 + 7,
                per_scrape,
                Scale::Units,
            );
        }
        self.gauge(
            "node_netstat_Tcp_CurrEstab",
            &[],
            40 + cpus as i64 * 5,
            3.0,
            0.8,
            Scale::Units,
        );
        for (name, center) in [
            ("TCP_alloc", 60),
            ("TCP_inuse", 40),
            ("TCP_orphan", 0),
            ("TCP_tw", 30),
            ("TCP_mem", 20),
            ("UDP_inuse", 8),
            ("UDP_mem", 4),
            ("FRAG_inuse", 0),
            ("RAW_inuse", 0),
            ("sockets_used", 600),
        ] {
            self.gauge(
                &format!("node_sockstat_{name}"),
                &[],
                center,
                (center as f64).sqrt() / 2.0,
                0.7,
                Scale::Units,
            );
        }
        self.gauge(
            "node_sockstat_TCP_mem_bytes",
            &[],
            20,
            2.0,
            0.7,
            Scale::Multiply(4096.0),
        );
        self.gauge(
            "node_sockstat_UDP_mem_bytes",
            &[],
            4,
            1.0,
            0.5,
            Scale::Multiply(4096.0),
        );
        for (name, hundredths) in [("load1", 0.0), ("load5", 0.0), ("load15", 0.0)] {
            let center = (load * 100.0) as i64 + hundredths as i64;
            self.gauge(
                &format!("node_{name}"),
                &[],
                center,
                5.0 + load * 10.0,
                0.95,
                Scale::Divide(100.0),
            );
        }
        self.gauge(
            "node_procs_running",
            &[],
            1 + (load as i64),
            1.0,
            0.8,
            Scale::Units,
        );
        self.gauge("node_procs_blocked", &[], 0, 0.4, 0.2, Scale::Units);
        self.counter(
            "node_context_switches_total",
            &[],
            up * 40_000,
            15.0 * 3_000.0 * cpus as f64 * busy,
            Scale::Units,
        );
        self.counter(
            "node_intr_total",
            &[],
            up * 30_000,
            15.0 * 2_000.0 * cpus as f64 * busy,
            Scale::Units,
        );
        self.counter("node_forks_total", &[], up * 100, 15.0 * 5.0, Scale::Units);
        self.gauge(
            "node_filefd_allocated",
            &[],
            3_000 + 100 * cpus as i64,
            8.0,
            0.8,
            Scale::Units,
        );
        self.constant("node_filefd_maximum", &[], 9.223372036854776e18);
        self.gauge(
            "node_entropy_available_bits",
            &[],
            256,
            0.0,
            0.0,
            Scale::Units,
        );
        self.constant("node_entropy_pool_size_bits", &[], 256.0);
        self.gauge(
            "node_nf_conntrack_entries",
            &[],
            300,
            10.0,
            0.9,
            Scale::Units,
        );
        self.constant("node_nf_conntrack_entries_limit", &[], 262_144.0);
        self.gauge(
            "node_arp_entries",
            &[("device", "eth0")],
            4,
            0.3,
            0.05,
            Scale::Units,
        );
        self.constant(
            "node_boot_time_seconds",
            &[],
            (1_700_000_000 - uptime_s) as f64,
        );
        self.add(
            "node_time_seconds",
            &[],
            SeriesKind::Float,
            Generator::UnixTime,
        );
        self.constant(
            "node_time_zone_offset_seconds",
            &[("time_zone", "UTC")],
            0.0,
        );
        self.constant("node_textfile_scrape_error", &[], 0.0);
        self.constant("node_selinux_enabled", &[], 0.0);
        self.constant(
            "node_uname_info",
            &[
                ("machine", "x86_64"),
                ("release", "6.1.0-18-amd64"),
                ("sysname", "Linux"),
            ],
            1.0,
        );
        self.constant(
            "node_os_info",
            &[("id", "debian"), ("version_id", "12")],
            1.0,
        );
        self.constant("node_os_version", &[("id", "debian")], 12.0);
        self.constant("node_dmi_info", &[("product_name", "PowerEdge R650")], 1.0);
        self.constant(
            "node_exporter_build_info",
            &[("goversion", "go1.21.4"), ("version", "1.7.0")],
            1.0,
        );

        // Clock discipline (adjtimex): microseconds as seconds, and a ratio.
        for (name, center, sd) in [
            ("offset_seconds", 0, 40.0),
            ("maxerror_seconds", 20_000, 500.0),
            ("estimated_error_seconds", 500, 20.0),
        ] {
            self.gauge(
                &format!("node_timex_{name}"),
                &[],
                center,
                sd,
                0.9,
                Scale::Divide(1e6),
            );
        }
        let freq = (self.rng.normal() * 1_000_000.0) as i64;
        self.add(
            "node_timex_frequency_adjustment_ratio",
            &[],
            SeriesKind::Float,
            Generator::FrequencyRatio { freq, change: 0.2 },
        );
        for (name, value) in [
            ("loop_time_constant", 7.0),
            ("pps_calibration_total", 0.0),
            ("pps_error_total", 0.0),
            ("pps_frequency_hertz", 0.0),
            ("pps_jitter_seconds", 0.0),
            ("pps_jitter_total", 0.0),
            ("pps_shift_seconds", 0.0),
            ("pps_stability_exceeded_total", 0.0),
            ("pps_stability_hertz", 0.0),
            ("status", 8193.0),
            ("sync_status", 1.0),
            ("tai_offset_seconds", 0.0),
            ("tick_seconds", 0.01),
        ] {
            self.constant(&format!("node_timex_{name}"), &[], value);
        }

        // Per-collector scrape durations (fresh each scrape) and success.
        for collector in COLLECTORS {
            let mean_ns = 10f64.powi(4 + self.rng.below(3) as i32) * (1.0 + 9.0 * self.rng.unit());
            self.duration(
                "node_scrape_collector_duration_seconds",
                &[("collector", collector)],
                mean_ns,
                0.0,
            );
            self.constant(
                "node_scrape_collector_success",
                &[("collector", collector)],
                1.0,
            );
        }

        // Go runtime and process.
        for quantile in ["0", "0.25", "0.5", "0.75", "1"] {
            self.duration(
                "go_gc_duration_seconds",
                &[("quantile", quantile)],
                40_000.0,
                0.75,
            );
        }
        self.counter(
            "go_gc_duration_seconds_count",
            &[],
            5_000,
            2.0,
            Scale::Units,
        );
        self.histogram_free_sum("go_gc_duration_seconds_sum");
        self.gauge("go_goroutines", &[], 9, 1.0, 0.3, Scale::Units);
        self.gauge(
            "go_threads",
            &[],
            8 + cpus as i64 / 4,
            0.3,
            0.05,
            Scale::Units,
        );
        self.constant("go_info", &[("version", "go1.21.4")], 1.0);
        for (name, center, sd) in [
            ("alloc_bytes", 3_000_000, 300_000.0),
            ("heap_alloc_bytes", 3_000_000, 300_000.0),
            ("heap_objects", 20_000, 2_000.0),
            ("mspan_inuse_bytes", 80_000, 2_000.0),
            ("next_gc_bytes", 4_500_000, 200_000.0),
        ] {
            self.gauge(
                &format!("go_memstats_{name}"),
                &[],
                center,
                sd,
                1.0,
                Scale::Units,
            );
        }
        for (name, center) in [
            ("heap_idle_bytes", 500),
            ("heap_inuse_bytes", 600),
            ("heap_released_bytes", 400),
            ("heap_sys_bytes", 1_100),
            ("stack_inuse_bytes", 90),
            ("stack_sys_bytes", 90),
            ("sys_bytes", 2_000),
        ] {
            self.gauge(
                &format!("go_memstats_{name}"),
                &[],
                center,
                2.0,
                0.4,
                Scale::Multiply(8192.0),
            );
        }
        for (name, value) in [
            ("buck_hash_sys_bytes", 1_456_789.0),
            ("gc_sys_bytes", 8_765_432.0),
            ("mcache_inuse_bytes", 9_600.0),
            ("mcache_sys_bytes", 15_600.0),
            ("mspan_sys_bytes", 130_560.0),
            ("other_sys_bytes", 1_234_567.0),
            ("lookups_total", 0.0),
        ] {
            self.constant(&format!("go_memstats_{name}"), &[], value);
        }
        self.counter(
            "go_memstats_alloc_bytes_total",
            &[],
            900_000_000_000,
            15.0 * 400_000.0,
            Scale::Units,
        );
        self.counter(
            "go_memstats_mallocs_total",
            &[],
            9_000_000_000,
            15.0 * 4_000.0,
            Scale::Units,
        );
        self.counter(
            "go_memstats_frees_total",
            &[],
            8_999_000_000,
            15.0 * 4_000.0,
            Scale::Units,
        );
        self.add(
            "go_memstats_last_gc_time_seconds",
            &[],
            SeriesKind::Float,
            Generator::UnixTime,
        );
        self.counter(
            "process_cpu_seconds_total",
            &[],
            uptime_s,
            15.0 * 100.0 * 0.01,
            Scale::Divide(100.0),
        );
        self.constant("process_max_fds", &[], 1_048_576.0);
        self.gauge("process_open_fds", &[], 10, 0.5, 0.3, Scale::Units);
        self.gauge(
            "process_resident_memory_bytes",
            &[],
            5_000,
            20.0,
            0.9,
            Scale::Multiply(4096.0),
        );
        self.gauge(
            "process_virtual_memory_bytes",
            &[],
            180_000,
            10.0,
            0.2,
            Scale::Multiply(4096.0),
        );
        self.constant(
            "process_virtual_memory_max_bytes",
            &[],
            1.8446744073709552e19,
        );
        self.constant(
            "process_start_time_seconds",
            &[],
            (1_700_000_000 - uptime_s) as f64 + 0.37,
        );
        self.counter(
            "promhttp_metric_handler_requests_total",
            &[("code", "200")],
            up,
            1.0,
            Scale::Units,
        );
        self.constant(
            "promhttp_metric_handler_requests_total",
            &[("code", "500")],
            0.0,
        );
        self.constant(
            "promhttp_metric_handler_requests_total",
            &[("code", "503")],
            0.0,
        );
        self.constant("promhttp_metric_handler_requests_in_flight", &[], 1.0);

        // A request-latency histogram of a service on the host.
        self.histogram(
            "http_request_duration_seconds",
            "/api/v1/query",
            15.0 * 0.5,
            &SLOW_SHARES,
        );
        self.histogram(
            "http_request_duration_seconds",
            "/api/v1/write",
            15.0 * 20.0,
            &FAST_SHARES,
        );
        self.histogram(
            "http_request_duration_seconds",
            "/metrics",
            1.0,
            &FAST_SHARES,
        );

        // Series Prometheus adds to every scrape.
        self.constant("up", &[], 1.0);
        self.duration("scrape_duration_seconds", &[], 40_000_000.0, 0.0);
        let scraped = self.series.len() as f64 + 3.0;
        self.constant("scrape_samples_scraped", &[], scraped);
        self.constant("scrape_samples_post_metric_relabeling", &[], scraped);
        self.constant("scrape_series_added", &[], 0.0);
    }

    /// A `_sum` of durations without buckets (Go's GC summary).
    fn histogram_free_sum(&mut self, name: &str) {
        let histogram = Histogram {
            id: hash3(self.seed, 0x6c5u64, self.next_histogram),
            requests_per_scrape: 0.5,
            shares: &FAST_SHARES,
        };
        self.next_histogram += 1;
        let sum = 0.25 + self.rng.unit();
        self.add(
            name,
            &[],
            SeriesKind::Float,
            Generator::HistogramSum { histogram, sum },
        );
    }
}

// ───────────────────────────── randomness ─────────────────────────────

/// SplitMix64: small, fast, and the same on every platform.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn fork(&mut self) -> Rng {
        Rng(self.next_u64())
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..bound` (`bound > 0`).
    fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    fn chance(&mut self, probability: f64) -> bool {
        probability > 0.0 && self.unit() < probability
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Approximately standard normal (Irwin–Hall with four terms), using only
    /// exactly specified IEEE operations.
    fn normal(&mut self) -> f64 {
        let sum = self.unit() + self.unit() + self.unit() + self.unit();
        (sum - 2.0) * 1.732_050_807_568_877_2
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn hash3(a: u64, b: u64, c: u64) -> u64 {
    mix(mix(mix(a) ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15)) ^ c.wrapping_mul(0xc2b2_ae3d_27d4_eb4f))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Workload {
        Workload::new(WorkloadConfig {
            series: 3_000,
            duration_ms: 20 * 60 * 1000,
            ..WorkloadConfig::default()
        })
    }

    #[test]
    fn default_size_matches_the_issue() {
        let workload = Workload::new(WorkloadConfig::default());
        assert_eq!(workload.series_count(), 51_000);
        assert_eq!(workload.sample_count(), 51_000 * 480);
        assert!(
            (40..=120).contains(&workload.target_count()),
            "{}",
            workload.target_count()
        );
    }

    #[test]
    fn labels_are_unique() {
        let workload = small();
        let mut labels: Vec<&Labels> = (0..workload.series_count())
            .map(|s| workload.labels(s))
            .collect();
        labels.sort();
        let before = labels.len();
        labels.dedup();
        assert_eq!(labels.len(), before);
    }

    #[test]
    fn scrapes_and_series_samples_agree() {
        let workload = small();
        let mut per_series: Vec<Vec<Sample>> = vec![Vec::new(); workload.series_count()];
        for sample in workload.samples() {
            per_series[sample.series].push(Sample::new(sample.t, sample.v));
        }
        for (series, samples) in per_series.iter().enumerate().step_by(7) {
            let alone = workload.series_samples(series);
            assert_eq!(alone.len(), samples.len());
            assert!(
                alone.iter().zip(samples).all(|(a, b)| a.bit_eq(b)),
                "series {series}"
            );
        }
    }

    #[test]
    fn same_seed_same_workload_other_seed_other_values() {
        let a = small().series_samples(100);
        let b = small().series_samples(100);
        assert!(a.iter().zip(&b).all(|(x, y)| x.bit_eq(y)));
        let other = Workload::new(WorkloadConfig {
            seed: 1,
            ..small().config().clone()
        });
        let c = other.series_samples(0);
        let d = small().series_samples(0);
        assert!(c.iter().zip(&d).any(|(x, y)| !x.bit_eq(y)));
    }

    #[test]
    fn a_target_shares_jitter_and_stays_near_its_grid() {
        let workload = small();
        let series = workload.target_series(1);
        let first = workload.series_samples(series.start);
        let last = workload.series_samples(series.end - 1);
        assert!(first.iter().zip(&last).all(|(a, b)| a.t == b.t));
        for pair in first.windows(2) {
            let delta = pair[1].t - pair[0].t;
            assert!((14_990..=15_010).contains(&delta), "{delta}");
        }
    }

    #[test]
    fn counters_never_decrease_and_cpu_seconds_have_two_decimals() {
        let workload = small();
        let mut checked = 0;
        for series in 0..workload.series_count() {
            let name = workload
                .labels(series)
                .get(model::METRIC_NAME)
                .unwrap_or_default()
                .to_owned();
            if workload.kind(series) != SeriesKind::Counter {
                continue;
            }
            let samples = workload.series_samples(series);
            assert!(samples.windows(2).all(|p| p[1].v >= p[0].v), "{name}");
            if name == "node_cpu_seconds_total" {
                for s in &samples {
                    let hundredths = (s.v * 100.0).round();
                    assert_eq!((hundredths / 100.0).to_bits(), s.v.to_bits());
                }
                checked += 1;
            }
        }
        assert!(checked > 0);
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let workload = small();
        let buckets: Vec<usize> = (0..workload.target_series(0).end)
            .filter(|&s| {
                let labels = workload.labels(s);
                labels.get("handler") == Some("/api/v1/write")
                    && labels.get(model::METRIC_NAME)
                        == Some("http_request_duration_seconds_bucket")
            })
            .collect();
        assert_eq!(buckets.len(), 12);
        let series: Vec<Vec<Sample>> = buckets
            .iter()
            .map(|&s| workload.series_samples(s))
            .collect();
        for scrape in 0..series[0].len() {
            // Labels sort "+Inf" first, then by le as a string; compare by value.
            let mut by_le: Vec<(f64, f64)> = buckets
                .iter()
                .zip(&series)
                .map(|(&s, samples)| {
                    let le = workload.labels(s).get("le").expect("le");
                    let le = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().expect("number")
                    };
                    (le, samples[scrape].v)
                })
                .collect();
            by_le.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert!(
                by_le.windows(2).all(|p| p[1].1 >= p[0].1),
                "scrape {scrape}: {by_le:?}"
            );
        }
    }
}
