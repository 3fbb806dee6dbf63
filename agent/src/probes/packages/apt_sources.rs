//! apt's configured sources (`/etc/apt/sources.list`, `sources.list.d/*.list`
//! one-line entries and `*.sources` deb822 stanzas), and which downloaded
//! `Packages` lists they reference: a list no configured source references
//! (left behind after a source was removed) says nothing about what apt
//! would install, so it is not counted.

/// One configured `deb` source (binary packages): its URI and suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    /// Repository URI (`http://deb.debian.org/debian-security`).
    pub uri: String,
    /// Suite (`bookworm-security`), or a flat repository path ending in `/`.
    pub suite: String,
    /// apt is told not to require a valid signature (`trusted=yes`,
    /// `allow-insecure=yes`, `allow-weak=yes`,
    /// `allow-downgrade-to-insecure=yes`, or the deb822 fields).
    pub insecure: bool,
}

/// The source options that disable apt's signature checks.
const INSECURE_OPTIONS: [&str; 4] = [
    "trusted",
    "allow-insecure",
    "allow-weak",
    "allow-downgrade-to-insecure",
];

fn is_yes(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "yes" | "true" | "1")
}

impl AptSource {
    /// The prefix of the list files apt downloads for this source
    /// (`deb.debian.org_debian-security_dists_bookworm-security_`), as apt's
    /// `URItoFileName` builds it: scheme and credentials dropped, `/` → `_`.
    pub fn list_prefix(&self) -> String {
        let uri = self
            .uri
            .split_once("://")
            .map_or(self.uri.as_str(), |(_, r)| r);
        let uri = uri.rsplit_once('@').map_or(uri, |(_, r)| r);
        let uri = uri.trim_end_matches('/');
        if self.suite.ends_with('/') {
            let suite = self.suite.trim_start_matches("./").trim_end_matches('/');
            let path = if suite.is_empty() || suite == "." {
                uri.to_string()
            } else {
                format!("{uri}/{suite}")
            };
            return format!("{}_", path.replace('/', "_"));
        }
        format!(
            "{}_dists_{}_",
            uri.replace('/', "_"),
            self.suite.replace('/', "_")
        )
    }

    /// Whether this is a security source (Debian `*-security` suites and
    /// security archives, Ubuntu `*-security`).
    pub fn is_security(&self) -> bool {
        self.suite.ends_with("-security")
            || self.suite.ends_with("/updates")
            || self.uri.contains("security")
    }

    /// `uri suite`, as reported.
    pub fn describe(&self) -> String {
        format!("{} {}", self.uri, self.suite)
    }
}

/// Parse one-line style entries (`deb [arch=amd64] http://… bookworm main`).
pub fn parse_sources_list(text: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut rest = match line.strip_prefix("deb") {
            Some(r) if r.starts_with(char::is_whitespace) => r.trim_start(),
            _ => continue,
        };
        let mut insecure = false;
        if rest.starts_with('[') {
            match rest.find(']') {
                Some(end) => {
                    insecure = rest[1..end].split_whitespace().any(|o| {
                        o.split_once('=').is_some_and(|(k, v)| {
                            INSECURE_OPTIONS.contains(&k.trim().to_ascii_lowercase().as_str())
                                && is_yes(v)
                        })
                    });
                    rest = rest[end + 1..].trim_start();
                }
                None => continue,
            }
        }
        let mut words = rest.split_whitespace();
        if let (Some(uri), Some(suite)) = (words.next(), words.next()) {
            out.push(AptSource {
                uri: uri.to_string(),
                suite: suite.to_string(),
                insecure,
            });
        }
    }
    out
}

/// Parse deb822 `.sources` stanzas (`Types:`, `URIs:`, `Suites:`, `Enabled:`).
pub fn parse_deb822_sources(text: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    let flush = |fields: &mut Vec<(String, String)>, out: &mut Vec<AptSource>| {
        let get = |k: &str| {
            fields
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.as_str())
        };
        let enabled = get("Enabled").is_none_or(|v| !v.trim().eq_ignore_ascii_case("no"));
        let binary = get("Types").is_some_and(|t| t.split_whitespace().any(|w| w == "deb"));
        let insecure = INSECURE_OPTIONS.iter().any(|o| get(o).is_some_and(is_yes));
        if enabled && binary {
            for uri in get("URIs").unwrap_or("").split_whitespace() {
                for suite in get("Suites").unwrap_or("").split_whitespace() {
                    out.push(AptSource {
                        uri: uri.to_string(),
                        suite: suite.to_string(),
                        insecure,
                    });
                }
            }
        }
        fields.clear();
    };
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            flush(&mut fields, &mut out);
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = fields.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            fields.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    flush(&mut fields, &mut out);
    out
}

/// Whether a list file name is referenced by one of the sources.
pub fn referenced(list_name: &str, sources: &[AptSource]) -> bool {
    sources
        .iter()
        .any(|s| list_name.starts_with(&s.list_prefix()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_and_deb822_sources_map_to_list_names() {
        let s = parse_sources_list(
            "# main\ndeb http://deb.debian.org/debian bookworm main\ndeb-src http://deb.debian.org/debian bookworm main\n\
             deb [signed-by=/usr/share/keyrings/x.gpg arch=amd64] https://user:pw@repo.example/apt/ stable main # c\n",
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].list_prefix(), "deb.debian.org_debian_dists_bookworm_");
        assert_eq!(s[1].list_prefix(), "repo.example_apt_dists_stable_");
        let d = parse_deb822_sources(
            "Types: deb deb-src\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n\n\
             Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nEnabled: no\n",
        );
        assert_eq!(d.len(), 1);
        assert!(d[0].is_security());
        assert!(!s[0].is_security());
        assert!(referenced(
            "deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages",
            &d
        ));
        assert!(!referenced(
            "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages",
            &d
        ));
    }

    #[test]
    fn sources_that_skip_signature_checks_are_insecure() {
        let s = parse_sources_list(
            "deb [trusted=yes] http://repo.example/debian bookworm main\n\
             deb [arch=amd64 allow-insecure=no] http://deb.debian.org/debian bookworm main\n\
             deb [ Allow-Weak=yes ] http://weak.example/ ./\n",
        );
        let flags: Vec<bool> = s.iter().map(|x| x.insecure).collect();
        assert_eq!(flags, [true, false, true]);
        let d = parse_deb822_sources(
            "Types: deb\nURIs: http://a.example/\nSuites: bookworm\nTrusted: yes\n\n\
             Types: deb\nURIs: http://b.example/\nSuites: bookworm\nSigned-By: /k.gpg\n",
        );
        let flags: Vec<bool> = d.iter().map(|x| x.insecure).collect();
        assert_eq!(flags, [true, false]);
    }
}
