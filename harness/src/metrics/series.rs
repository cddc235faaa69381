//! One endpoint's series over a run: counters folded into an increase as scrapes arrive
//! (restarts handled), gauges kept as a bounded set of values for their median.

use std::collections::{BTreeMap, HashSet};

use super::exposition::{Exposition, Role};
use super::{CPU_SERIES, CounterRecord, GaugeRecord, RSS_SERIES, SERIES_CAP, TimelineRecord};

/// A series: its name and sorted labels.
pub type SeriesKey = (String, Vec<(String, String)>);

/// Gauge values kept per series before thinning: memory stays bounded on long runs.
const GAUGE_KEEP: usize = 1024;

/// Where a counter's window starts and how far it has gone.
#[derive(Debug, Clone, Default)]
struct Counter {
    /// The last value seen (before or in the window).
    last: Option<f64>,
    /// Time and value the window's increase is counted from.
    start: Option<(f64, f64)>,
    /// Time of the last value in the window.
    end: f64,
    increase: f64,
    resets: u64,
}

impl Counter {
    /// A value at `t` seconds; `window` is the time of the window's first successful
    /// scrape when this scrape is in the window.
    fn observe(&mut self, t: f64, value: f64, window: Option<f64>) {
        let Some(window_start) = window else {
            self.last = Some(value);
            return;
        };
        match self.start {
            None if t <= window_start => {
                // The window's first scrape: counting starts here.
                self.start = Some((t, value));
            }
            None => {
                // Absent from the window's first scrape: it came into being during the
                // window (from zero), unless it was seen before the window.
                let from = self.last.unwrap_or(0.0);
                self.start = Some((window_start, from));
                self.add(from, value);
            }
            Some(_) => {
                let last = self.last.unwrap_or(value);
                self.add(last, value);
            }
        }
        self.last = Some(value);
        self.end = t;
    }

    fn add(&mut self, last: f64, value: f64) {
        if value >= last {
            self.increase += value - last;
        } else {
            // A drop is a restart: everything after it is new.
            self.increase += value;
            self.resets += 1;
        }
    }

    fn record(&self, (name, labels): &SeriesKey) -> Option<CounterRecord> {
        let (start, _) = self.start?;
        let span = self.end - start;
        Some(CounterRecord {
            name: name.clone(),
            labels: labels.iter().cloned().collect(),
            delta: self.increase,
            rate_per_s: (span > 0.0).then(|| self.increase / span),
            resets: self.resets,
        })
    }
}

/// A gauge's values in the window: exact extremes, a thinned sample for the median.
#[derive(Debug, Clone, Default)]
struct Gauge {
    min: f64,
    max: f64,
    seen: u64,
    kept: Vec<f64>,
    /// Keep one value in `stride` (doubles each time `kept` is full).
    stride: u64,
}

impl Gauge {
    fn observe(&mut self, value: f64) {
        if self.seen == 0 {
            (self.min, self.max, self.stride) = (value, value, 1);
        }
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if self.seen.is_multiple_of(self.stride) {
            if self.kept.len() == GAUGE_KEEP {
                let mut i = 0;
                self.kept.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride *= 2;
            }
            if self.seen.is_multiple_of(self.stride) {
                self.kept.push(value);
            }
        }
        self.seen += 1;
    }

    fn record(&self, (name, labels): &SeriesKey) -> Option<GaugeRecord> {
        if self.seen == 0 {
            return None;
        }
        let mut sorted = self.kept.clone();
        sorted.sort_by(f64::total_cmp);
        Some(GaugeRecord {
            name: name.clone(),
            labels: labels.iter().cloned().collect(),
            min: self.min,
            p50: sorted[(sorted.len() - 1) / 2],
            max: self.max,
            samples: self.seen,
        })
    }
}

/// Every series of one endpoint over one run.
#[derive(Debug, Default)]
pub struct SeriesTable {
    /// Names to keep; empty keeps every series.
    only: Vec<String>,
    /// Counter names whose every scraped value is kept, to count them over fault windows.
    watch: Vec<String>,
    timelines: BTreeMap<SeriesKey, Vec<(f64, f64)>>,
    seen_names: HashSet<String>,
    window_start: Option<f64>,
    window_end: f64,
    counters: BTreeMap<SeriesKey, Counter>,
    gauges: BTreeMap<SeriesKey, Gauge>,
    over_cap: u64,
}

/// A table's summary.
#[derive(Debug, Default)]
pub struct Summary {
    /// Counters with a window.
    pub counters: Vec<CounterRecord>,
    /// Gauges with a value in the window.
    pub gauges: Vec<GaugeRecord>,
    /// First and last successful scrape in the window (seconds since the run's start).
    pub window: Option<(f64, f64)>,
    /// Names asked for that no scrape held.
    pub missing: Vec<String>,
    /// Most series of one scrape left out beyond the cap.
    pub over_cap: u64,
    /// Increase of `process_cpu_seconds_total` (summed over its label sets).
    pub cpu_seconds: Option<f64>,
    /// Highest `process_resident_memory_bytes`.
    pub peak_rss: Option<f64>,
    /// Every value of the watched counters.
    pub timelines: Vec<TimelineRecord>,
}

/// Values kept per watched series: two hours of scrapes a second.
const TIMELINE_KEEP: usize = 7_200;

impl SeriesTable {
    /// A table keeping the series named in `only` (every series when empty).
    pub fn new(only: Vec<String>) -> Self {
        Self {
            only,
            ..Self::default()
        }
    }

    /// Keeps every value of the counters named `watch` (from before the warmup on).
    pub fn watching(mut self, watch: Vec<String>) -> Self {
        self.watch = watch;
        self
    }

    /// True when `name` is recorded: asked for by name, or by its family's name.
    fn wanted(&self, name: &str) -> bool {
        self.only.is_empty()
            || self.only.iter().any(|w| {
                name == w
                    || name.strip_prefix(w.as_str()).is_some_and(|suffix| {
                        matches!(suffix, "_total" | "_bucket" | "_count" | "_sum")
                    })
            })
    }

    /// One successful scrape at `t` seconds; `in_window` when it was taken at or after
    /// the warmup's end.
    pub fn observe(&mut self, t: f64, in_window: bool, body: &Exposition) {
        let window = if in_window {
            self.window_end = t;
            Some(*self.window_start.get_or_insert(t))
        } else {
            None
        };
        let mut over_cap = 0;
        for sample in &body.samples {
            if !sample.value.is_finite() || !self.wanted(&sample.name) {
                continue;
            }
            if !self.only.is_empty() && !self.seen_names.contains(&sample.name) {
                self.seen_names.insert(sample.name.clone());
            }
            let role = body.role(&sample.name);
            if role == Role::Skip {
                continue;
            }
            let key = (sample.name.clone(), sample.labels.clone());
            let known = self.counters.contains_key(&key) || self.gauges.contains_key(&key);
            if !known && self.counters.len() + self.gauges.len() >= SERIES_CAP {
                over_cap += 1;
                continue;
            }
            if role == Role::Counter && self.watch.contains(&sample.name) {
                let points = self.timelines.entry(key.clone()).or_default();
                if points.len() < TIMELINE_KEEP {
                    points.push((t, sample.value));
                }
            }
            match role {
                Role::Counter => {
                    self.counters
                        .entry(key)
                        .or_default()
                        .observe(t, sample.value, window)
                }
                Role::Gauge if in_window => {
                    self.gauges.entry(key).or_default().observe(sample.value)
                }
                // A gauge before the window reserves its place, but records nothing.
                Role::Gauge => {
                    self.gauges.entry(key).or_default();
                }
                Role::Skip => {}
            }
        }
        self.over_cap = self.over_cap.max(over_cap);
    }

    /// The summary of every scrape so far.
    pub fn summary(&self) -> Summary {
        let counters: Vec<CounterRecord> = self
            .counters
            .iter()
            .filter_map(|(key, c)| c.record(key))
            .collect();
        let gauges: Vec<GaugeRecord> = self
            .gauges
            .iter()
            .filter_map(|(key, g)| g.record(key))
            .collect();
        let cpu: Vec<f64> = counters
            .iter()
            .filter(|c| c.name == CPU_SERIES)
            .map(|c| c.delta)
            .collect();
        let peak_rss = gauges
            .iter()
            .filter(|g| g.name == RSS_SERIES)
            .map(|g| g.max)
            .reduce(f64::max);
        let missing = self
            .only
            .iter()
            .filter(|w| {
                !self
                    .seen_names
                    .iter()
                    .any(|seen| seen == *w || seen.starts_with(w.as_str()))
            })
            .cloned()
            .collect();
        Summary {
            window: self.window_start.map(|s| (s, self.window_end)),
            cpu_seconds: (!cpu.is_empty()).then(|| cpu.iter().sum()),
            peak_rss,
            missing,
            over_cap: self.over_cap,
            counters,
            gauges,
            timelines: self
                .timelines
                .iter()
                .map(|((name, labels), points)| TimelineRecord {
                    name: name.clone(),
                    labels: labels.iter().cloned().collect(),
                    points: points.clone(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(text: &str) -> Exposition {
        Exposition::parse(text).expect("parses")
    }

    fn counter(s: &Summary, name: &str) -> CounterRecord {
        s.counters
            .iter()
            .find(|c| c.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("no counter {name} in {:?}", s.counters))
    }

    #[test]
    fn warmup_is_cut_at_the_first_scrape_of_the_window() {
        let mut t = SeriesTable::new(Vec::new());
        t.observe(0.0, false, &body("req_total 100\n"));
        t.observe(1.0, false, &body("req_total 150\n"));
        t.observe(2.0, true, &body("req_total 200\n"));
        t.observe(3.0, true, &body("req_total 260\n"));
        t.observe(4.0, true, &body("req_total 300\n"));
        let s = t.summary();
        let c = counter(&s, "req_total");
        assert_eq!(c.delta, 100.0);
        assert_eq!(c.rate_per_s, Some(50.0));
        assert_eq!(c.resets, 0);
        assert_eq!(s.window, Some((2.0, 4.0)));
    }

    #[test]
    fn a_drop_is_a_restart_and_its_new_value_counts() {
        let mut t = SeriesTable::new(Vec::new());
        t.observe(0.0, true, &body("# TYPE req counter\nreq 50\n"));
        t.observe(1.0, true, &body("# TYPE req counter\nreq 80\n"));
        // Restarted: counted from zero again.
        t.observe(2.0, true, &body("# TYPE req counter\nreq 5\n"));
        t.observe(3.0, true, &body("# TYPE req counter\nreq 25\n"));
        let c = counter(&t.summary(), "req");
        assert_eq!(c.delta, 30.0 + 5.0 + 20.0);
        assert_eq!(c.resets, 1);
    }

    #[test]
    fn missing_scrapes_are_bridged_and_no_window_means_no_delta() {
        let mut t = SeriesTable::new(Vec::new());
        t.observe(0.0, true, &body("req_total 10\n"));
        // Seconds 1 to 3 failed: nothing observed.
        t.observe(4.0, true, &body("req_total 50\n"));
        let c = counter(&t.summary(), "req_total");
        assert_eq!((c.delta, c.rate_per_s), (40.0, Some(10.0)));

        let mut warm_only = SeriesTable::new(Vec::new());
        warm_only.observe(0.0, false, &body("req_total 10\nup 1\n"));
        let s = warm_only.summary();
        assert!(s.counters.is_empty() && s.gauges.is_empty(), "{s:?}");
        assert_eq!(s.window, None);
    }

    #[test]
    fn a_series_born_in_the_window_counts_from_zero() {
        let mut t = SeriesTable::new(Vec::new());
        t.observe(1.0, true, &body("req_total{code=\"200\"} 10\n"));
        t.observe(
            2.0,
            true,
            &body("req_total{code=\"200\"} 20\nreq_total{code=\"500\"} 3\n"),
        );
        let s = t.summary();
        let errors = s
            .counters
            .iter()
            .find(|c| c.labels.get("code").map(String::as_str) == Some("500"))
            .expect("500 series");
        assert_eq!(errors.delta, 3.0);
        assert_eq!(errors.rate_per_s, Some(3.0));
    }

    #[test]
    fn gauges_have_extremes_and_median_of_the_window_only() {
        let mut t = SeriesTable::new(Vec::new());
        t.observe(0.0, false, &body("# TYPE temp gauge\ntemp 1000\n"));
        for (i, v) in [5.0, 1.0, 9.0, 3.0, 7.0].into_iter().enumerate() {
            t.observe(
                1.0 + i as f64,
                true,
                &body(&format!("# TYPE temp gauge\ntemp {v}\n")),
            );
        }
        let s = t.summary();
        let g = &s.gauges[0];
        assert_eq!((g.min, g.p50, g.max, g.samples), (1.0, 5.0, 9.0, 5));
    }

    #[test]
    fn gauge_memory_is_bounded_and_the_median_stays_close() {
        let mut g = Gauge::default();
        for i in 0..100_000u32 {
            g.observe(f64::from(i % 1000));
        }
        assert!(g.kept.len() <= GAUGE_KEEP);
        let r = g.record(&("g".into(), Vec::new())).expect("values");
        assert_eq!((r.min, r.max, r.samples), (0.0, 999.0, 100_000));
        assert!((r.p50 - 500.0).abs() < 50.0, "{}", r.p50);
    }

    #[test]
    fn cpu_and_rss_normalisations_and_the_series_filter() {
        let mut t = SeriesTable::new(vec![CPU_SERIES.into(), RSS_SERIES.into(), "absent".into()]);
        let scrape = |cpu: f64, rss: f64| {
            body(&format!(
                "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {cpu}\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {rss}\nother_total 5\n"
            ))
        };
        t.observe(0.0, true, &scrape(1.5, 100.0));
        t.observe(1.0, true, &scrape(2.0, 300.0));
        t.observe(2.0, true, &scrape(2.25, 200.0));
        let s = t.summary();
        assert_eq!(s.cpu_seconds, Some(0.75));
        assert_eq!(s.peak_rss, Some(300.0));
        assert_eq!(
            s.counters.len(),
            1,
            "the filter keeps only asked-for series"
        );
        assert_eq!(s.missing, vec!["absent".to_string()]);
    }

    #[test]
    fn series_beyond_the_cap_are_counted_not_kept() {
        let mut t = SeriesTable::new(Vec::new());
        let text: String = (0..SERIES_CAP + 7)
            .map(|i| format!("s_total{{i=\"{i}\"}} 1\n"))
            .collect();
        t.observe(0.0, true, &body(&text));
        t.observe(1.0, true, &body(&text));
        let s = t.summary();
        assert_eq!(s.counters.len(), SERIES_CAP);
        assert_eq!(s.over_cap, 7);
    }
}
