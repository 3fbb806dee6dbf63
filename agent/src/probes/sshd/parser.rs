//! Walks the main file and its `Include`s, routing lines to the global scope
//! or the current `Match` block.

use super::effective::{finalize_block, finalize_global};
use super::include::IncludeSource;
use super::keywords::{lookup, IGNORED};
use super::lexer::{argv_split, split_keyword};
use super::settings::{apply, Scope};
use super::{MatchBlock, SshdFacts, MAX_DEPTH, MAX_FILES, SSHDIR};
use serde_json::Map;

/// Parser state.
pub(super) struct Parser<'a> {
    src: &'a dyn IncludeSource,
    global: Scope,
    blocks: Vec<(MatchBlock, Scope)>,
    files: Vec<String>,
    errors: Vec<String>,
}

/// Where settings currently go.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Target {
    Global,
    Block(usize),
    /// Inside an inactive block included from an inactive context.
    Block2(usize),
}

impl Parser<'_> {
    fn err(&mut self, file: &str, line: usize, msg: impl std::fmt::Display) {
        if self.errors.len() < 100 {
            self.errors.push(format!("{file}:{line}: {msg}"));
        }
    }

    fn parse_file(&mut self, path: &str, text: &str, target: &mut Target, depth: usize) {
        if depth > MAX_DEPTH {
            self.err(path, 0, "too many recursive configuration includes");
            return;
        }
        if self.files.len() >= MAX_FILES {
            self.err(path, 0, "too many configuration files");
            return;
        }
        self.files.push(path.to_string());
        for (i, raw) in text.split('\n').enumerate() {
            self.parse_line(path, i + 1, raw, target, depth);
        }
    }

    fn parse_line(&mut self, file: &str, ln: usize, raw: &str, target: &mut Target, depth: usize) {
        let line = raw
            .trim_start_matches([' ', '\t', '\r'])
            .trim_end_matches([' ', '\t', '\r', '\n', '\x0c']);
        let Some((keyword, rest)) = split_keyword(line) else {
            return;
        };
        if keyword.is_empty() || keyword.starts_with('#') {
            return;
        }
        if rest.is_empty() {
            self.err(file, ln, format!("no argument after keyword \"{keyword}\""));
            return;
        }
        let lower = keyword.to_ascii_lowercase();
        if lower == "match" {
            self.start_match(file, ln, rest, target);
            return;
        }
        let args = match argv_split(rest) {
            Some(a) => a,
            None => {
                self.err(file, ln, "invalid quotes");
                return;
            }
        };
        if lower == "include" {
            self.include(file, ln, &args, target, depth);
            return;
        }
        if IGNORED.contains(&lower.as_str()) {
            self.err(file, ln, format!("deprecated option {keyword} ignored"));
            return;
        }
        let Some(k) = lookup(&lower) else {
            self.err(file, ln, format!("bad configuration option: {keyword}"));
            return;
        };
        let scope = match *target {
            Target::Global => None,
            Target::Block(i) | Target::Block2(i) => {
                if !k.in_match {
                    self.err(
                        file,
                        ln,
                        format!("directive '{keyword}' is not allowed within a Match block"),
                    );
                    return;
                }
                Some(i)
            }
        };
        let scope = match scope {
            None => &mut self.global,
            Some(i) => match self.blocks.get_mut(i) {
                Some((_, s)) => s,
                None => return,
            },
        };
        if let Err(e) = apply(scope, k, &args, rest) {
            self.err(file, ln, format!("{keyword}: {e}"));
        }
    }

    fn start_match(&mut self, file: &str, ln: usize, rest: &str, target: &mut Target) {
        let mut words: Vec<&str> = Vec::new();
        for w in rest.split([' ', '\t']).filter(|w| !w.is_empty()) {
            if w.starts_with('#') {
                break;
            }
            words.push(w);
        }
        let criteria = words.join(" ");
        let inactive_ctx = matches!(*target, Target::Block2(_));
        if words.len() == 1
            && words.first().is_some_and(|w| w.eq_ignore_ascii_case("all"))
            && !inactive_ctx
        {
            *target = Target::Global;
            // Recorded too, so readers see the block exists.
            self.blocks.push((
                MatchBlock {
                    criteria,
                    file: file.to_string(),
                    settings: Map::new(),
                },
                Scope::new(),
            ));
            return;
        }
        if words.is_empty()
            || (words.len() % 2 == 1 && !words.iter().any(|w| w.eq_ignore_ascii_case("all")))
        {
            self.err(file, ln, "bad Match condition");
        }
        self.blocks.push((
            MatchBlock {
                criteria,
                file: file.to_string(),
                settings: Map::new(),
            },
            Scope::new(),
        ));
        let idx = self.blocks.len().saturating_sub(1);
        *target = if inactive_ctx {
            Target::Block2(idx)
        } else {
            Target::Block(idx)
        };
    }

    fn include(
        &mut self,
        file: &str,
        ln: usize,
        args: &[String],
        target: &mut Target,
        depth: usize,
    ) {
        if args.is_empty() {
            self.err(file, ln, "Include missing filename argument");
        }
        for a in args {
            if a.is_empty() {
                self.err(file, ln, "Include: empty argument");
                continue;
            }
            let pattern = if a.starts_with('/') || a.starts_with('~') {
                a.clone()
            } else {
                format!("{SSHDIR}/{a}")
            };
            let paths = match self.src.glob(&pattern) {
                Ok(p) => p,
                Err(e) => {
                    self.err(file, ln, format!("include \"{pattern}\" glob failed: {e}"));
                    continue;
                }
            };
            let saved = *target;
            for p in paths {
                let text = match self.src.read(&p) {
                    Ok(t) => t,
                    Err(e) => {
                        self.err(file, ln, format!("cannot read included file: {e}"));
                        continue;
                    }
                };
                // An included file starts active unless included from a Match block.
                let mut t = match saved {
                    Target::Global => Target::Global,
                    Target::Block(i) | Target::Block2(i) => Target::Block2(i),
                };
                self.parse_file(&p, &text, &mut t, depth + 1);
                *target = saved;
            }
        }
    }
}

/// Parse a configuration: the main file's text plus a source for included files.
pub fn parse_sshd_config(main_path: &str, text: &str, includes: &dyn IncludeSource) -> SshdFacts {
    let mut p = Parser {
        src: includes,
        global: Scope::new(),
        blocks: Vec::new(),
        files: Vec::new(),
        errors: Vec::new(),
    };
    let mut target = Target::Global;
    p.parse_file(main_path, text, &mut target, 0);
    let settings = finalize_global(&p.global);
    let match_blocks = p
        .blocks
        .into_iter()
        .map(|(mut b, s)| {
            b.settings = finalize_block(&s);
            b
        })
        .collect();
    SshdFacts {
        // What the configuration alone says; `collect` asks the root.
        installed: true,
        installed_by: "config".into(),
        settings,
        match_blocks,
        files: p.files,
        errors: p.errors,
    }
}
