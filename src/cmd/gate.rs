//! The CI gate as commands use it: the configuration file, the gate over an engine's findings
//! (ignores, annotations, baseline), and writing the findings document in every format asked for
//! (--format on stdout, --output FORMAT=PATH to files).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::Outcome;
use crate::catalogue::{Described, Entry};
use crate::cli::FindingsArgs;
use crate::finding::{FailOn, Finding};
use crate::gate::baseline::Baseline;
use crate::gate::config::Config;
use crate::gate::{Check, Gate, Gated, Objects};
use crate::render::document::Document;
use crate::render::{Ctx, Format, GateView};

/// The configuration in effect: `--config`, else `.kscope.yaml` found from the working directory
/// up to the repository root, else the defaults.
pub fn config(path: Option<&Path>) -> Result<(Option<PathBuf>, Config)> {
    let found = match path {
        Some(p) => Some(p.to_path_buf()),
        None => std::env::current_dir()
            .ok()
            .and_then(|d| Config::discover(&d)),
    };
    match found {
        Some(p) => {
            let c = Config::load(&p)?;
            tracing::info!("configuration: {}", p.display());
            Ok((Some(p), c))
        }
        None => Ok((None, Config::default())),
    }
}

/// `--rule`/`--query` (else the config's `enable`) and `--skip` plus the config's `disable`.
pub fn selection(
    flags_only: &[String],
    flags_skip: &[String],
    cfg: &crate::gate::config::Selection,
) -> (Vec<String>, Vec<String>) {
    let only = if flags_only.is_empty() {
        cfg.enable.clone()
    } else {
        flags_only.to_vec()
    };
    let mut skip = cfg.disable.clone();
    skip.extend(flags_skip.iter().cloned());
    (only, skip)
}

/// The config's parameters that concern the selected entries, then the command line's (which win).
pub fn params<E: Entry>(cfg: &Config, selected: &[&E], flags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = cfg
        .param_args()
        .into_iter()
        .filter(|a| {
            let key = a.split('=').next().unwrap_or_default();
            match key.split_once('.') {
                Some((code, name)) => selected.iter().any(|e| {
                    e.code().eq_ignore_ascii_case(code) && e.params().iter().any(|p| p.name == name)
                }),
                None => selected
                    .iter()
                    .any(|e| e.params().iter().any(|p| p.name == key)),
            }
        })
        .collect();
    out.extend(flags.iter().cloned());
    out
}

/// KS001 and KS002, the suppressions' own rules.
pub fn suppression_rules() -> Vec<Described> {
    crate::rules::registry()
        .map(|r| {
            r.iter()
                .filter(|r| r.code.starts_with("KS"))
                .map(|r| r.describe())
                .collect()
        })
        .unwrap_or_default()
}

/// Runs the gate over `findings` and writes or prunes the baseline when asked.
pub fn apply(
    a: &FindingsArgs,
    cfg: &Config,
    objects: Objects,
    findings: Vec<Finding>,
) -> Result<Gated> {
    let baseline = a.baseline.as_deref().map(Baseline::read).transpose()?;
    let mut gate = Gate {
        config: cfg.clone(),
        objects,
        baseline: baseline.clone(),
    };
    let gated = gate.apply(findings, &suppression_rules());
    if let Some(path) = &a.write_baseline {
        let all = gated
            .shown
            .iter()
            .chain(&gated.baselined)
            .map(|&i| &gated.all[i]);
        let b = Baseline::of(all, baseline.as_ref());
        b.write(path)?;
        eprintln!(
            "kscope: wrote {} finding(s) to the baseline {}",
            b.len(),
            path.display()
        );
    }
    if a.prune_baseline {
        if let (Some(b), Some(path)) = (&baseline, &a.baseline) {
            let pruned = b.pruned(&gated.fixed);
            pruned.write(path)?;
            eprintln!(
                "kscope: pruned {} fixed entr{} from {}",
                gated.fixed.len(),
                if gated.fixed.len() == 1 { "y" } else { "ies" },
                path.display()
            );
        }
    }
    Ok(gated)
}

/// The common part of a findings document: the findings the gate shows (by index, in order),
/// the rules that were selected, what each checked, and the gate's view. The command fills in
/// the rest ([`crate::render::build`]).
pub fn document<'a>(
    a: &FindingsArgs,
    command: &'static str,
    gated: &'a Gated,
    rules: &'a [Described],
    checks: &'a [Check],
) -> Document<'a> {
    Document {
        findings: gated.findings(),
        rules,
        checks,
        gate: Some(GateView {
            summary: &gated.summary,
            suppressed: gated.suppressed(),
            baselined: gated.baselined(),
            fixed: &gated.fixed,
            show: a.show_suppressed,
        }),
        ..Document::empty(command)
    }
}

/// Writes the findings document: `--format` to `out`, each `--output FORMAT=PATH` to its file.
pub fn emit(a: &FindingsArgs, doc: &Document<'_>, out: &mut dyn Write) -> Result<()> {
    let max = crate::render::format::sarif::SARIF_MAX_RESULTS;
    if doc.findings.len() > max
        && (a.format == Format::Sarif || a.outputs.iter().any(|(f, _)| *f == Format::Sarif))
    {
        tracing::warn!(
            "SARIF: {} of {} findings left out (GitHub accepts {max} results per run)",
            doc.findings.len() - max,
            doc.findings.len(),
        );
    }
    let ctx = Ctx::stdout(a.term.color, a.term.wide);
    a.format.write(doc, &ctx, out)?;
    for (format, path) in &a.outputs {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot write --output {}", path.display()))?;
        let mut w = std::io::BufWriter::new(file);
        format.write(doc, &ctx.file(), &mut w)?;
        w.flush()
            .with_context(|| format!("cannot write --output {}", path.display()))?;
    }
    Ok(())
}

/// The exit code decision's inputs: `--fail-on` (else the config's, else error) over the gated
/// findings, `--exit-zero`.
pub fn outcome(a: &FindingsArgs, cfg: &Config, fully_read: bool, gated: &Gated) -> Outcome {
    let fail_on = a.fail_on.or(cfg.fail_on()).unwrap_or(FailOn::Error);
    let fail_on = if a.exit_zero { FailOn::None } else { fail_on };
    Outcome::of(fully_read, fail_on, gated.findings())
}
