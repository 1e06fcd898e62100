//! The Prometheus text exposition format, as far as kscope reads it: the samples of one metric
//! with their labels. Malformed lines are skipped, never guessed at.

/// One sample: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    /// A label's value ("" when absent, as Prometheus treats it).
    pub fn label(&self, key: &str) -> &str {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }
}

/// Label pairs of `a="x",b="y"` (escapes `\"`, `\\`, `\n` as the text format defines them).
fn labels(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let key: String = chars
            .by_ref()
            .skip_while(|c| *c == ',' || c.is_whitespace())
            .take_while(|c| *c != '=')
            .collect();
        if key.is_empty() || chars.next() != Some('"') {
            return out;
        }
        let mut val = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => val.push('\n'),
                    Some(o) => val.push(o),
                    None => break,
                },
                o => val.push(o),
            }
        }
        out.push((key.trim().to_string(), val));
    }
}

/// The samples of metric `name` in an exposition text.
pub fn samples(text: &str, name: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let (ls, value) = if let Some(r) = rest.strip_prefix('{') {
                let (ls, v) = r.rsplit_once('}')?;
                (labels(ls), v)
            } else if rest.starts_with([' ', '\t']) {
                (Vec::new(), rest)
            } else {
                return None;
            };
            let value: f64 = value.split_whitespace().next()?.parse().ok()?;
            Some(Sample { labels: ls, value })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_with_and_without_labels() {
        let text = "# TYPE kubelet_cgroup_version gauge\nkubelet_cgroup_version 1\n\
                    kubelet_cgroup_version_other 5\n\
                    kubelet_cri_losing_support{version=\"1.38.0\"} 1\n\
                    kubelet_cri_losing_support{version=\"x\\\"y\"} 1\n\
                    kubelet_cri_losing_support{broken\n\
                    kubelet_cri_losing_support{version=\"1.37\"} garbage\n";
        let c = samples(text, "kubelet_cgroup_version");
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].value, 1.0);
        assert!(c[0].labels.is_empty());
        let l = samples(text, "kubelet_cri_losing_support");
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].label("version"), "1.38.0");
        assert_eq!(l[1].label("version"), "x\"y");
        assert_eq!(l[1].label("missing"), "");
    }
}
