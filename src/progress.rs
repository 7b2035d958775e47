//! A progress bar for terminals, as an [`Observer`].
//!
//! One line of at most 80 columns: a bar, the rounds done, the elapsed time, the estimated time
//! left, a rounded rate, and the current loss and good-set size:
//!
//! ```text
//! [#####------]  93888/200000 00:01 ETA 00:01 77.7k rounds/s loss −0.497  good 6
//! ```
//!
//! The line is built by [`Progress::line`] (a pure function, tested), and drawn by indicatif,
//! which redraws in place and only when stderr is a terminal. Wall-clock time is read only for
//! this display: no output file depends on it.

use std::time::{Duration, Instant};

use crate::actors::RoundEvent;
use crate::error::Error;
use crate::plot::format::round_sig;
use crate::record::{Observer, RunInfo, Summary};

/// The widest line drawn, in columns.
pub const COLUMNS: usize = 80;

/// A progress bar on stderr (or nothing, when disabled).
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
    last_draw: Option<Instant>,
    total: u64,
    /// The loss of the last evaluated round (only those have one, see `eval_every`).
    loss: f64,
}

impl Progress {
    /// A progress bar drawn on stderr when `enabled` (pass `!quiet && stderr is a terminal`).
    pub fn new(enabled: bool) -> Self {
        let bar = enabled.then(|| {
            let pb = indicatif::ProgressBar::new(0);
            if let Ok(style) = indicatif::ProgressStyle::with_template("{msg}") {
                pb.set_style(style);
            }
            pb
        });
        Progress {
            bar,
            started: Instant::now(),
            last_draw: None,
            total: 0,
            loss: f64::NAN,
        }
    }

    /// The progress line for `done` of `total` rounds after `elapsed`, with the current `loss`
    /// and `good`-set size: at most [`COLUMNS`] characters.
    pub fn line(done: u64, total: u64, elapsed: Duration, loss: f64, good: usize) -> String {
        let secs = elapsed.as_secs_f64();
        let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
        let eta = if rate > 0.0 && total >= done {
            clock((total - done) as f64 / rate)
        } else {
            "--:--".to_string()
        };
        // Fields of fixed width, so the bar keeps its length from one redraw to the next.
        let digits = total.max(1).to_string().len();
        let mut parts = vec![
            format!("{done:>digits$}/{total}"),
            clock(secs),
            format!("ETA {eta}"),
            format!("{:>5} rounds/s", rate_text(rate)),
            format!("loss {:<7}", round_sig(loss, 3)),
            format!("good {good:<3}"),
        ];
        loop {
            let rest: usize = parts.iter().map(|p| p.chars().count() + 1).sum();
            // "[" + bar + "]" + rest.
            let bar_width = COLUMNS.saturating_sub(rest + 2);
            if bar_width >= 10 || parts.len() <= 3 {
                let bar_width = bar_width.clamp(1, 30);
                let filled = if total > 0 {
                    ((done.min(total) as f64 / total as f64) * bar_width as f64).round() as usize
                } else {
                    0
                };
                let mut line = format!(
                    "[{}{}]",
                    "#".repeat(filled),
                    "-".repeat(bar_width - filled.min(bar_width))
                );
                for p in &parts {
                    line.push(' ');
                    line.push_str(p);
                }
                let line: String = line.chars().take(COLUMNS).collect();
                return line.trim_end().to_string();
            }
            parts.pop();
        }
    }
}

/// `mm:ss`, or `h:mm:ss` from an hour.
fn clock(secs: f64) -> String {
    let s = if secs.is_finite() {
        secs.max(0.0).round() as u64
    } else {
        0
    };
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

/// A rate rounded for reading: `850`, `32.8k`, `1.2M`.
fn rate_text(rate: f64) -> String {
    if rate < 1000.0 {
        round_sig(rate, 3)
    } else if rate < 1e6 {
        format!("{}k", round_sig(rate / 1e3, 3))
    } else {
        format!("{}M", round_sig(rate / 1e6, 3))
    }
}

impl Observer for Progress {
    fn init(&mut self, info: &RunInfo) -> Result<(), Error> {
        self.total = info.rounds;
        self.started = Instant::now();
        self.loss = info.initial_loss;
        if let Some(pb) = &self.bar {
            pb.set_length(info.rounds);
            pb.set_message(Self::line(
                0,
                info.rounds,
                Duration::ZERO,
                info.initial_loss,
                info.roles.len(),
            ));
        }
        Ok(())
    }

    fn round(&mut self, e: &RoundEvent) -> Result<(), Error> {
        if e.evaluated {
            self.loss = e.loss;
        }
        let Some(pb) = &self.bar else { return Ok(()) };
        // Redraw at most ten times a second (and at the last round).
        if !e.round.is_multiple_of(64) && e.round != self.total {
            return Ok(());
        }
        let now = Instant::now();
        if self
            .last_draw
            .is_some_and(|t| now.duration_since(t) < Duration::from_millis(100))
            && e.round != self.total
        {
            return Ok(());
        }
        self.last_draw = Some(now);
        pb.set_position(e.round);
        pb.set_message(Self::line(
            e.round,
            self.total,
            now.duration_since(self.started),
            self.loss,
            e.good,
        ));
        Ok(())
    }

    fn finish(&mut self, _: &Summary) -> Result<(), Error> {
        if let Some(pb) = self.bar.take() {
            pb.finish_and_clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_fits_80_columns_with_elapsed_eta_and_a_rounded_rate() {
        let l = Progress::line(1500, 3000, Duration::from_millis(45_700), -0.4988776, 6);
        assert!(l.chars().count() <= COLUMNS, "{l}");
        assert!(l.contains("1500/3000"), "{l}");
        assert!(l.contains("00:46") && l.contains("ETA 00:46"), "{l}");
        assert!(l.contains(" 32.8 rounds/s"), "{l}");
        assert!(l.contains("loss −0.499") && l.contains("good 6"), "{l}");
        // Half done: half the bar.
        let (filled, width) = (l.matches('#').count(), l.find(']').unwrap() - 1);
        assert!(
            width >= 10 && filled * 2 >= width - 1 && filled * 2 <= width + 1,
            "{l}"
        );
        // Long runs, huge losses, many machines: still 80 columns.
        let l = Progress::line(
            123_456_789,
            999_999_999,
            Duration::from_secs(4000),
            -5.3e11,
            10_000,
        );
        assert!(l.chars().count() <= COLUMNS, "{l}");
        assert!(l.contains("1:06:40"), "{l}");
        assert!(l.contains("30.9k rounds/s"), "{l}");
        let l = Progress::line(0, 10, Duration::ZERO, f64::NAN, 3);
        assert!(l.contains("ETA --:--"), "{l}");
        // The bar keeps its width while the numbers change.
        let bar = |l: &str| l.find(']').unwrap();
        let a = Progress::line(64, 200_000, Duration::from_millis(1), 0.0217, 9);
        let b = Progress::line(117_312, 200_000, Duration::from_secs(2), -0.5, 6);
        assert_eq!(bar(&a), bar(&b), "{a}\n{b}");
    }
}
