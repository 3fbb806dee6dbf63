//! Algorithm lists: validation, wildcards and `+`/`-`/`^` expansion against
//! OpenSSH 9.2p1's defaults.

use super::keywords::{Alg, ALL_CASIG, ALL_CIPHERS, ALL_KEX, ALL_KEYALGS, ALL_MACS};
use super::lexer::split_commas;

pub(super) fn all_list(class: Alg) -> &'static str {
    match class {
        Alg::Cipher => ALL_CIPHERS,
        Alg::Mac => ALL_MACS,
        Alg::Kex => ALL_KEX,
        Alg::Key => ALL_KEYALGS,
        Alg::CaSig => ALL_CASIG,
    }
}

pub(super) fn validate_algs(class: Alg, spec: &str) -> Result<(), String> {
    if spec.starts_with('-') {
        return Ok(());
    }
    let body = spec
        .strip_prefix('+')
        .or_else(|| spec.strip_prefix('^'))
        .unwrap_or(spec);
    let wild_ok = matches!(class, Alg::Key | Alg::CaSig);
    let all: Vec<&str> = all_list(class).split(',').collect();
    for name in body.split(',') {
        let ok = if wild_ok && name.contains(['*', '?']) {
            true
        } else {
            all.contains(&name)
        };
        if !ok || name.is_empty() {
            return Err(format!("bad algorithm name \"{name}\""));
        }
    }
    Ok(())
}

/// OpenSSH `match_pattern`: `*` and `?` wildcards.
pub(super) fn wildmatch(s: &[u8], p: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some(b'*'), _) => {
            let rest = p.get(1..).unwrap_or_default();
            (0..=s.len()).any(|i| wildmatch(s.get(i..).unwrap_or_default(), rest))
        }
        (Some(_), None) => false,
        (Some(b'?'), Some(_)) => wildmatch(
            s.get(1..).unwrap_or_default(),
            p.get(1..).unwrap_or_default(),
        ),
        (Some(pc), Some(sc)) => {
            pc == sc
                && wildmatch(
                    s.get(1..).unwrap_or_default(),
                    p.get(1..).unwrap_or_default(),
                )
        }
    }
}

pub(super) fn match_list(name: &str, patterns: &str) -> bool {
    patterns
        .split(',')
        .any(|p| wildmatch(name.as_bytes(), p.as_bytes()))
}

pub(super) fn names_cat(a: &mut Vec<String>, b: &[String]) {
    for n in b {
        if !a.contains(n) {
            a.push(n.clone());
        }
    }
}

/// `kex_assemble_names`: apply `+`, `-`, `^` to the default and expand wildcards.
pub(super) fn assemble(spec: Option<&str>, def: &str, all: &str) -> Vec<String> {
    let defl = split_commas(def);
    let Some(spec) = spec.filter(|s| !s.is_empty()) else {
        return defl;
    };
    let list: Vec<String> = if let Some(rm) = spec.strip_prefix('-') {
        return defl.into_iter().filter(|n| !match_list(n, rm)).collect();
    } else if let Some(add) = spec.strip_prefix('+') {
        let mut l = defl;
        names_cat(&mut l, &split_commas(add));
        l
    } else if let Some(pre) = spec.strip_prefix('^') {
        let mut l = split_commas(pre);
        names_cat(&mut l, &defl);
        l
    } else {
        split_commas(spec)
    };
    let alll = split_commas(all);
    let mut out: Vec<String> = Vec::new();
    for pat in &list {
        let matching: Vec<String> = alll
            .iter()
            .filter(|a| wildmatch(a.as_bytes(), pat.as_bytes()))
            .cloned()
            .collect();
        names_cat(&mut out, &matching);
    }
    out
}
