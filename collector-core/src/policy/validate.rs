//! Validation of CEL expressions against the probe schema (like Cedar's
//! validator): every field path an expression reads is resolved at load.
//!
//! The walk goes over the compiled CEL expression tree (not the text):
//! identifiers and member selections rooted at a probe variable are resolved
//! with [`crate::schema`]; comprehension variables (`x.all(u, u.name …)`) are
//! bound to the element type of the list they iterate. Reported, each with
//! the byte offset of the probe variable inside the expression:
//! - an unknown probe or field (with "did you mean" from the schema);
//! - a probe read but not listed in the rule's `requires` (`host` and
//!   `collected_at` are always present);
//! - a comparison, membership test, logical operator or string method whose
//!   operand types cannot match (a list compared with an int, `!` on a string).
//!
//! Anything the walk cannot type (results of functions, `any` fields, map
//! values) is accepted: the validator never rejects a valid expression.

use crate::schema::{self, FieldType, ProbeSchema};
use cel::common::ast::{operators, Expr, IdedExpr, LiteralValue};
use std::collections::BTreeMap;

/// One problem found in an expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// Byte offset inside the expression source, when known.
    pub offset: Option<usize>,
    /// The field path concerned (`sshd.permitrootlogin`), or the probe.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// The static kind of a value, as far as the walk can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Bool,
    Num,
    Null,
    List,
    Map,
    Timestamp,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Str => "a string",
            Kind::Bool => "a bool",
            Kind::Num => "a number",
            Kind::Null => "null",
            Kind::List => "a list",
            Kind::Map => "an object",
            Kind::Timestamp => "a timestamp",
        }
    }
}

/// What the walk knows about an expression's value.
#[derive(Debug, Clone)]
enum Ty {
    /// Unknown: accepted everywhere.
    Unknown,
    /// A literal or computed value of a known kind.
    Value(Kind),
    /// A probe field: its probe, schema path (`""` for the probe's root,
    /// `None` below a map key) and type.
    Field {
        probe: &'static ProbeSchema,
        path: Option<String>,
        shown: String,
        ty: FieldType,
    },
}

impl Ty {
    /// The kinds the value may have (empty: unknown, anything goes).
    fn kinds(&self) -> Vec<Kind> {
        match self {
            Ty::Unknown => vec![],
            Ty::Value(k) => vec![*k],
            Ty::Field { ty, .. } => field_kinds(ty),
        }
    }

    fn shown(&self) -> Option<&str> {
        match self {
            Ty::Field { shown, .. } => Some(shown),
            _ => None,
        }
    }
}

fn field_kinds(ty: &FieldType) -> Vec<Kind> {
    match ty {
        FieldType::Str => vec![Kind::Str],
        FieldType::Bool => vec![Kind::Bool],
        FieldType::Int | FieldType::Float => vec![Kind::Num],
        FieldType::List(_) => vec![Kind::List],
        FieldType::Object | FieldType::Map(_) => vec![Kind::Map],
        FieldType::Nullable(inner) => {
            let mut k = field_kinds(inner);
            if !k.is_empty() {
                k.push(Kind::Null);
            }
            k
        }
        FieldType::Any => vec![],
    }
}

/// Whether two values of these kinds can ever compare equal / be ordered.
fn compatible(a: &[Kind], b: &[Kind]) -> bool {
    a.is_empty() || b.is_empty() || a.iter().any(|k| b.contains(k))
}

struct Walker<'a> {
    requires: &'a [String],
    offsets: &'a cel::common::ast::SourceInfo,
    problems: Vec<Problem>,
    /// Probes reported as not required (once each).
    unrequired: Vec<&'static str>,
}

/// Validate one compiled expression; `requires` lists the probes the rule
/// declares (`None`: the policy-level `applies_to`, which may read `host` only).
/// `want_bool`: the expression must yield a bool.
pub(crate) fn check(program: &cel::Program, requires: &[String], want_bool: bool) -> Vec<Problem> {
    let mut w = Walker {
        requires,
        offsets: program.source_info(),
        problems: Vec::new(),
        unrequired: Vec::new(),
    };
    let root = program.expression();
    let ty = w.walk(root, &BTreeMap::new());
    if want_bool {
        w.expect_kind(root, &ty, Kind::Bool, "the expression must yield a bool");
    }
    w.problems
}

type Scope = BTreeMap<String, Ty>;

impl Walker<'_> {
    fn offset(&self, e: &IdedExpr) -> Option<usize> {
        self.offsets
            .offset_for(e.id)
            .and_then(|(start, _)| usize::try_from(start).ok())
    }

    /// Offset of the leftmost identifier of a selection chain (where the path starts).
    fn path_offset(&self, e: &IdedExpr) -> Option<usize> {
        let mut cur = e;
        loop {
            match &cur.expr {
                Expr::Select(s) => cur = &s.operand,
                Expr::Call(c) if c.func_name == operators::INDEX => match c.args.first() {
                    Some(a) => cur = a,
                    None => return self.offset(cur),
                },
                _ => return self.offset(cur),
            }
        }
    }

    fn report(&mut self, at: &IdedExpr, path: &str, message: String) {
        let offset = self.path_offset(at);
        let p = Problem {
            offset,
            path: path.to_string(),
            message,
        };
        if !self.problems.contains(&p) {
            self.problems.push(p);
        }
    }

    fn expect_kind(&mut self, at: &IdedExpr, ty: &Ty, want: Kind, why: &str) {
        let kinds = ty.kinds();
        if !compatible(&kinds, &[want]) {
            if let Some(shown) = ty.shown() {
                let is = kinds.first().map(|k| k.name()).unwrap_or("unknown");
                let shown = shown.to_string();
                self.report(at, &shown, format!("`{shown}` is {is}, but {why}"));
            }
        }
    }

    fn walk(&mut self, e: &IdedExpr, scope: &Scope) -> Ty {
        match &e.expr {
            Expr::Literal(l) => Ty::Value(match l {
                LiteralValue::Boolean(_) => Kind::Bool,
                LiteralValue::String(_) => Kind::Str,
                LiteralValue::Int(_) | LiteralValue::UInt(_) | LiteralValue::Double(_) => Kind::Num,
                LiteralValue::Null => Kind::Null,
                LiteralValue::Bytes(_) => return Ty::Unknown,
            }),
            Expr::List(l) => {
                for el in &l.elements {
                    self.walk(el, scope);
                }
                Ty::Value(Kind::List)
            }
            Expr::Map(m) => {
                for entry in &m.entries {
                    if let cel::common::ast::EntryExpr::MapEntry(me) = &entry.expr {
                        self.walk(&me.key, scope);
                        self.walk(&me.value, scope);
                    }
                }
                Ty::Value(Kind::Map)
            }
            Expr::Ident(name) => self.ident(e, name, scope),
            Expr::Select(s) => {
                let base = self.walk(&s.operand, scope);
                let ty = self.member(e, base, &s.field);
                if s.test {
                    Ty::Value(Kind::Bool)
                } else {
                    ty
                }
            }
            Expr::Comprehension(c) => {
                let range = self.walk(&c.iter_range, scope);
                let element = match &range {
                    Ty::Field {
                        probe,
                        path,
                        shown,
                        ty,
                    } => match ty.non_null() {
                        FieldType::List(inner) => Ty::Field {
                            probe,
                            path: path.as_ref().map(|p| format!("{p}[]")),
                            shown: format!("{shown}[]"),
                            ty: **inner,
                        },
                        FieldType::Map(_) | FieldType::Object => Ty::Value(Kind::Str),
                        _ => {
                            self.expect_kind(
                                &c.iter_range,
                                &range,
                                Kind::List,
                                "only lists and objects can be iterated",
                            );
                            Ty::Unknown
                        }
                    },
                    _ => Ty::Unknown,
                };
                self.walk(&c.accu_init, scope);
                let mut inner = scope.clone();
                inner.insert(c.iter_var.clone(), element);
                if let Some(v2) = &c.iter_var2 {
                    inner.insert(v2.clone(), Ty::Unknown);
                }
                inner.insert(c.accu_var.clone(), Ty::Unknown);
                self.walk(&c.loop_cond, &inner);
                self.walk(&c.loop_step, &inner);
                let mut result_scope = scope.clone();
                result_scope.insert(c.accu_var.clone(), Ty::Unknown);
                self.walk(&c.result, &result_scope);
                Ty::Unknown
            }
            Expr::Call(call) => self.call(e, call, scope),
            Expr::Struct(_) | Expr::Unspecified => Ty::Unknown,
        }
    }

    fn ident(&mut self, e: &IdedExpr, name: &str, scope: &Scope) -> Ty {
        if let Some(t) = scope.get(name) {
            return t.clone();
        }
        if name == "collected_at" || name == "collected_day" {
            return Ty::Value(Kind::Timestamp);
        }
        match schema::probe_by_name(name) {
            Ok(probe) => {
                if probe.id != "host"
                    && !self.requires.iter().any(|r| r == probe.id)
                    && !self.unrequired.contains(&probe.id)
                {
                    self.unrequired.push(probe.id);
                    self.report(
                        e,
                        probe.id,
                        format!(
                            "probe `{}` is not listed in `requires` (add \"{}\")",
                            probe.id, probe.id
                        ),
                    );
                }
                Ty::Field {
                    probe,
                    path: Some(String::new()),
                    shown: name.to_string(),
                    ty: FieldType::Object,
                }
            }
            Err(err) => {
                self.report(e, name, err.to_string());
                Ty::Unknown
            }
        }
    }

    /// `base.field`.
    fn member(&mut self, at: &IdedExpr, base: Ty, field: &str) -> Ty {
        let Ty::Field {
            probe,
            path,
            shown,
            ty,
        } = base
        else {
            return Ty::Unknown;
        };
        let shown = format!("{shown}.{field}");
        match ty.non_null() {
            FieldType::Any => Ty::Unknown,
            FieldType::Map(value) => Ty::Field {
                probe,
                path: None,
                shown,
                ty: **value,
            },
            FieldType::Object => {
                let Some(path) = path else {
                    return Ty::Unknown;
                };
                let full = if path.is_empty() {
                    field.to_string()
                } else {
                    format!("{path}.{field}")
                };
                match probe.field(&full) {
                    Some(f) => Ty::Field {
                        probe,
                        path: Some(full),
                        shown,
                        ty: f.ty,
                    },
                    None => {
                        let hint = probe
                            .suggest(&full)
                            .map(|s| format!(" (did you mean `{}.{s}`?)", probe.variable()))
                            .unwrap_or_default();
                        self.report(
                            at,
                            &shown,
                            format!("probe `{}` has no field `{full}`{hint}", probe.id),
                        );
                        Ty::Unknown
                    }
                }
            }
            other => {
                let parent = shown.rsplit_once('.').map(|(p, _)| p).unwrap_or(&shown);
                let msg = format!("`{parent}` is {other}, it has no member `{field}`");
                self.report(at, &shown, msg);
                Ty::Unknown
            }
        }
    }

    fn call(&mut self, e: &IdedExpr, call: &cel::common::ast::CallExpr, scope: &Scope) -> Ty {
        let target = call.target.as_ref().map(|t| (t, self.walk(t, scope)));
        let args: Vec<Ty> = call.args.iter().map(|a| self.walk(a, scope)).collect();
        let f = call.func_name.as_str();
        match f {
            operators::LOGICAL_AND | operators::LOGICAL_OR | operators::LOGICAL_NOT => {
                for (a, t) in call.args.iter().zip(&args) {
                    self.expect_kind(a, t, Kind::Bool, "logical operators need bools");
                }
                Ty::Value(Kind::Bool)
            }
            operators::EQUALS
            | operators::NOT_EQUALS
            | operators::LESS
            | operators::LESS_EQUALS
            | operators::GREATER
            | operators::GREATER_EQUALS => {
                if let (Some(a), Some(b)) = (args.first(), args.get(1)) {
                    let (ka, kb) = (a.kinds(), b.kinds());
                    if !compatible(&ka, &kb) {
                        let field = a.shown().or(b.shown()).map(str::to_string);
                        if let Some(field) = field {
                            let (fk, ok) = if a.shown().is_some() {
                                (&ka, &kb)
                            } else {
                                (&kb, &ka)
                            };
                            let at = if a.shown().is_some() {
                                &call.args[0]
                            } else {
                                &call.args[1]
                            };
                            let msg = format!(
                                "`{field}` is {}, compared with {}: the comparison can never hold",
                                fk.first().map(|k| k.name()).unwrap_or("unknown"),
                                ok.first().map(|k| k.name()).unwrap_or("unknown"),
                            );
                            self.report(at, &field, msg);
                        }
                    }
                }
                Ty::Value(Kind::Bool)
            }
            operators::IN => {
                if let (Some(item), Some(coll)) = (args.first(), args.get(1)) {
                    self.check_in(call, item, coll);
                }
                Ty::Value(Kind::Bool)
            }
            operators::INDEX => match (args.first(), call.args.get(1)) {
                (Some(base), Some(key)) => self.index(e, base.clone(), key),
                _ => Ty::Unknown,
            },
            "size" => {
                let subject = target
                    .as_ref()
                    .map(|(t, ty)| (&***t, ty.clone()))
                    .or_else(|| call.args.first().zip(args.first().cloned()));
                if let Some((at, ty)) = subject {
                    let kinds = ty.kinds();
                    if !kinds.is_empty()
                        && !kinds
                            .iter()
                            .any(|k| matches!(k, Kind::Str | Kind::List | Kind::Map))
                    {
                        if let Some(shown) = ty.shown() {
                            let shown = shown.to_string();
                            let is = kinds.first().map(|k| k.name()).unwrap_or("unknown");
                            self.report(at, &shown, format!("`{shown}` is {is}, it has no size"));
                        }
                    }
                }
                Ty::Value(Kind::Num)
            }
            "contains" | "startsWith" | "endsWith" | "matches" | "lowerAscii" | "upperAscii"
            | "trim" => {
                if let Some((t, ty)) = &target {
                    self.expect_kind(t, ty, Kind::Str, &format!("`{f}` works on strings"));
                }
                match f {
                    "lowerAscii" | "upperAscii" | "trim" => Ty::Value(Kind::Str),
                    _ => Ty::Value(Kind::Bool),
                }
            }
            _ => Ty::Unknown,
        }
    }

    fn check_in(&mut self, call: &cel::common::ast::CallExpr, item: &Ty, coll: &Ty) {
        match coll {
            Ty::Field { shown, ty, .. } => match ty.non_null() {
                FieldType::List(inner) => {
                    let (ki, ke) = (item.kinds(), field_kinds(inner));
                    if !compatible(&ki, &ke) {
                        let msg = format!(
                            "`{shown}` holds {}, tested for {}: the test can never hold",
                            ke.first().map(|k| k.name()).unwrap_or("unknown"),
                            ki.first().map(|k| k.name()).unwrap_or("unknown"),
                        );
                        let shown = shown.clone();
                        self.report(&call.args[1], &shown, msg);
                    }
                }
                FieldType::Map(_) | FieldType::Object | FieldType::Any => {}
                other => {
                    let msg = format!("`{shown}` is {other}; `in` needs a list or an object");
                    let shown = shown.clone();
                    self.report(&call.args[1], &shown, msg);
                }
            },
            _ => {
                // `field in [literal, …]`: the field against the literals' kinds.
                let (Some(shown), Some(Expr::List(list))) =
                    (item.shown(), call.args.get(1).map(|a| &a.expr))
                else {
                    return;
                };
                let ki = item.kinds();
                let literal_kinds: Vec<Kind> = list
                    .elements
                    .iter()
                    .filter_map(|el| match &el.expr {
                        Expr::Literal(LiteralValue::String(_)) => Some(Kind::Str),
                        Expr::Literal(LiteralValue::Boolean(_)) => Some(Kind::Bool),
                        Expr::Literal(
                            LiteralValue::Int(_) | LiteralValue::UInt(_) | LiteralValue::Double(_),
                        ) => Some(Kind::Num),
                        Expr::Literal(LiteralValue::Null) => Some(Kind::Null),
                        _ => None,
                    })
                    .collect();
                if literal_kinds.len() == list.elements.len()
                    && !literal_kinds.is_empty()
                    && !compatible(&ki, &literal_kinds)
                {
                    let msg = format!(
                        "`{shown}` is {}, tested against a list of {}: the test can never hold",
                        ki.first().map(|k| k.name()).unwrap_or("unknown"),
                        literal_kinds.first().map(|k| k.name()).unwrap_or("unknown"),
                    );
                    let shown = shown.to_string();
                    self.report(&call.args[0], &shown, msg);
                }
            }
        }
    }

    /// `base[key]`.
    fn index(&mut self, at: &IdedExpr, base: Ty, key: &IdedExpr) -> Ty {
        let Ty::Field {
            probe,
            path,
            shown,
            ty,
        } = base
        else {
            return Ty::Unknown;
        };
        match ty.non_null() {
            FieldType::List(inner) => Ty::Field {
                probe,
                path: path.map(|p| format!("{p}[]")),
                shown: format!("{shown}[]"),
                ty: **inner,
            },
            FieldType::Map(value) => Ty::Field {
                probe,
                path: None,
                shown: format!("{shown}[…]"),
                ty: **value,
            },
            FieldType::Object => match &key.expr {
                Expr::Literal(LiteralValue::String(s)) => {
                    let base = Ty::Field {
                        probe,
                        path,
                        shown,
                        ty,
                    };
                    self.member(at, base, s.inner())
                }
                _ => Ty::Unknown,
            },
            FieldType::Any => Ty::Unknown,
            other => {
                let msg = format!("`{shown}` is {other}, it cannot be indexed");
                self.report(at, &shown, msg);
                Ty::Unknown
            }
        }
    }
}
