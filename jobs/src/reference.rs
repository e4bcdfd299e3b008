//! docs/jobs.md, the reference of job and pipeline files, generated from the spec's types and
//! their doc comments. The test fails when a field or variant has no doc comment, or when the
//! file is not what the types say (`LAKEJOB_UPDATE_DOCS=1` rewrites it).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;

use quote::ToTokens;
use syn::{Attribute, Expr, Fields, GenericArgument, Item, Lit, PathArguments, Type};

/// The files that declare the spec's types, relative to this crate.
const SPEC_FILES: &[&str] = &[
    "src/spec.rs",
    "src/pipeline.rs",
    "../engine/src/reader/mod.rs",
    "../engine/src/reader/columns.rs",
    "../engine/src/catalog.rs",
    "../quality/src/spec.rs",
];

/// The types a reader meets first.
const ROOTS: &[(&str, &str)] = &[
    ("JobSpec", "A job file"),
    ("PipelineSpec", "A pipeline file"),
];

const INTRO: &str = "# Job and pipeline files\n\n\
Generated from the spec's types and their doc comments by `cargo test -p lakejob-jobs \
reference` (`LAKEJOB_UPDATE_DOCS=1` rewrites it); edit the doc comments, not this file. Every \
mapping is strict: a key not listed here is an error. A field without a default is required.\n";

#[derive(Default)]
struct Items {
    structs: BTreeMap<String, syn::ItemStruct>,
    enums: BTreeMap<String, syn::ItemEnum>,
    fns: BTreeMap<String, syn::ItemFn>,
    consts: BTreeMap<String, syn::ItemConst>,
}

fn parse_items() -> Items {
    let mut items = Items::default();
    for file in SPEC_FILES {
        let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let parsed = syn::parse_file(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        for item in parsed.items {
            match item {
                Item::Struct(s) => {
                    items.structs.insert(s.ident.to_string(), s);
                }
                Item::Enum(e) => {
                    items.enums.insert(e.ident.to_string(), e);
                }
                Item::Fn(f) => {
                    items.fns.insert(f.sig.ident.to_string(), f);
                }
                Item::Const(c) => {
                    items.consts.insert(c.ident.to_string(), c);
                }
                _ => {}
            }
        }
    }
    items
}

/// The doc comment, as one paragraph.
fn doc(attrs: &[Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(syn::ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s.value().trim().to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    lines.join(" ")
}

/// The value of `#[serde(key = "...")]`, or `Some("")` for a bare `#[serde(key)]`.
fn serde_attr(attrs: &[Attribute], key: &str) -> Option<String> {
    let mut found = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(key) {
                found = Some(match meta.value() {
                    Ok(value) => value.parse::<syn::LitStr>()?.value(),
                    Err(_) => String::new(),
                });
            } else if meta.input.peek(syn::Token![=]) {
                let _: Expr = meta.value()?.parse()?;
            }
            Ok(())
        });
    }
    found
}

fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

fn variant_name(enum_attrs: &[Attribute], variant: &syn::Variant) -> String {
    let name = variant.ident.to_string();
    match serde_attr(enum_attrs, "rename_all").as_deref() {
        Some("snake_case") => snake_case(&name),
        Some("lowercase") => name.to_lowercase(),
        _ => name,
    }
}

/// The type as a reader of YAML sees it, linking the spec's own types.
fn type_text(ty: &Type, items: &Items) -> String {
    match ty {
        Type::Array(array) => format!(
            "[{}, ...] ({} items)",
            type_text(&array.elem, items),
            array.len.to_token_stream()
        ),
        Type::Path(path) => {
            let Some(last) = path.path.segments.last() else {
                return ty.to_token_stream().to_string();
            };
            let name = last.ident.to_string();
            let inner = || match &last.arguments {
                PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
                    GenericArgument::Type(t) => Some(t.clone()),
                    _ => None,
                }),
                _ => None,
            };
            match name.as_str() {
                "Option" | "Box" => inner().map_or(name, |t| type_text(&t, items)),
                "Vec" => inner().map_or(name, |t| format!("list of {}", type_text(&t, items))),
                "String" => "string".into(),
                "char" => "one character".into(),
                "bool" => "boolean".into(),
                "f64" | "f32" => "number".into(),
                "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i32" | "i64" => "integer".into(),
                other if items.structs.contains_key(other) || items.enums.contains_key(other) => {
                    format!("[{other}](#{})", other.to_lowercase())
                }
                other => other.to_string(),
            }
        }
        other => other.to_token_stream().to_string(),
    }
}

/// The spec's types a type refers to.
fn referenced(ty: &Type, items: &Items, out: &mut Vec<String>) {
    match ty {
        Type::Array(array) => referenced(&array.elem, items, out),
        Type::Path(path) => {
            for segment in &path.path.segments {
                let name = segment.ident.to_string();
                if items.structs.contains_key(&name) || items.enums.contains_key(&name) {
                    out.push(name);
                }
                if let PathArguments::AngleBracketed(args) = &segment.arguments {
                    for arg in &args.args {
                        if let GenericArgument::Type(t) = arg {
                            referenced(t, items, out);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

/// An expression as YAML would write it: constants and `default_*` functions followed.
fn value_text(expr: &Expr, items: &Items) -> String {
    match expr {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Str(s) => format!("`{:?}`", s.value()),
            Lit::Char(c) => format!("`{}`", c.value()),
            other => format!("`{}`", other.to_token_stream()),
        },
        Expr::Path(path) => {
            let name = path.to_token_stream().to_string();
            match items.consts.get(&name) {
                Some(constant) => value_text(&constant.expr, items),
                None => format!("`{}`", name.to_lowercase()),
            }
        }
        Expr::MethodCall(call) => value_text(&call.receiver, items),
        Expr::Call(call) => value_text(
            &Expr::Path(match &*call.func {
                Expr::Path(p) => p.clone(),
                _ => return format!("`{}`", expr.to_token_stream()),
            }),
            items,
        ),
        Expr::Macro(mac) if mac.mac.path.is_ident("vec") => {
            let inner = mac.mac.tokens.to_string();
            if inner.trim() == "String :: new ()" {
                "`[\"\"]`".into()
            } else {
                format!("`[{inner}]`")
            }
        }
        Expr::Block(block) => match block.block.stmts.last() {
            Some(syn::Stmt::Expr(e, None)) => value_text(e, items),
            _ => format!("`{}`", expr.to_token_stream()),
        },
        other => format!("`{}`", other.to_token_stream()),
    }
}

/// The default of a field, or None when it is required.
fn default_text(attrs: &[Attribute], ty: &Type, items: &Items) -> Option<String> {
    let default = serde_attr(attrs, "default")?;
    if !default.is_empty() {
        let function = items
            .fns
            .get(&default)
            .unwrap_or_else(|| panic!("no function {default}"));
        return Some(match function.block.stmts.last() {
            Some(syn::Stmt::Expr(e, None)) => value_text(e, items),
            _ => format!("see `{default}`"),
        });
    }
    let text = ty.to_token_stream().to_string();
    Some(if text.starts_with("Option") {
        "none".into()
    } else if text.starts_with("Vec") {
        "`[]`".into()
    } else if text == "bool" {
        "`false`".into()
    } else if let Some(e) = items.enums.get(&text) {
        e.variants
            .iter()
            .find(|v| v.attrs.iter().any(|a| a.path().is_ident("default")))
            .map_or("its own".into(), |v| {
                format!("`{}`", variant_name(&e.attrs, v))
            })
    } else {
        "each field's default".into()
    })
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The table of a struct's (or struct variant's) fields; an undocumented field is a problem.
fn fields_table(
    owner: &str,
    fields: &Fields,
    items: &Items,
    out: &mut String,
    problems: &mut Vec<String>,
    queue: &mut Vec<String>,
) {
    out.push_str("\n| key | type | default | meaning |\n|---|---|---|---|\n");
    for field in fields {
        let name = serde_attr(&field.attrs, "rename").unwrap_or_else(|| {
            field
                .ident
                .as_ref()
                .map_or_else(String::new, ToString::to_string)
        });
        let meaning = doc(&field.attrs);
        if meaning.is_empty() {
            problems.push(format!("{owner}.{name} has no doc comment"));
        }
        referenced(&field.ty, items, queue);
        let default =
            default_text(&field.attrs, &field.ty, items).unwrap_or_else(|| "required".into());
        let _ = writeln!(
            out,
            "| `{name}` | {} | {} | {} |",
            cell(&type_text(&field.ty, items)),
            cell(&default),
            cell(&meaning)
        );
    }
}

fn enum_section(
    item: &syn::ItemEnum,
    items: &Items,
    out: &mut String,
    problems: &mut Vec<String>,
    queue: &mut Vec<String>,
) {
    let owner = item.ident.to_string();
    let tag = serde_attr(&item.attrs, "tag");
    let untagged = serde_attr(&item.attrs, "untagged").is_some();
    let lead = match &tag {
        Some(tag) => format!("A mapping whose `{tag}` is one of:"),
        None if untagged => "Written as either:".to_string(),
        None if item.variants.iter().all(|v| v.fields.is_empty()) => "One of:".to_string(),
        None => "A one-key mapping, the key one of:".to_string(),
    };
    let _ = writeln!(out, "\n{lead}\n");
    for variant in &item.variants {
        let name = variant_name(&item.attrs, variant);
        let meaning = doc(&variant.attrs);
        if meaning.is_empty() {
            problems.push(format!("{owner}::{} has no doc comment", variant.ident));
        }
        match &variant.fields {
            Fields::Unit => {
                let _ = writeln!(out, "- `{name}`: {meaning}");
            }
            Fields::Unnamed(unnamed) => {
                let inner: Vec<String> = unnamed
                    .unnamed
                    .iter()
                    .map(|f| {
                        referenced(&f.ty, items, queue);
                        type_text(&f.ty, items)
                    })
                    .collect();
                let with = if tag.is_some() {
                    "with the keys of"
                } else {
                    "holding"
                };
                if untagged {
                    let _ = writeln!(out, "- {}: {meaning}", inner.join(", "));
                } else {
                    let _ = writeln!(out, "- `{name}`: {meaning} ({with} {})", inner.join(", "));
                }
            }
            Fields::Named(_) => {
                let _ = writeln!(out, "- `{name}`: {meaning}\n");
                let mut table = String::new();
                let label = format!("{owner}::{}", variant.ident);
                fields_table(&label, &variant.fields, items, &mut table, problems, queue);
                for line in table.lines().filter(|l| !l.is_empty()) {
                    let _ = writeln!(out, "  {line}");
                }
            }
        }
    }
}

/// The reference, and every problem found (undocumented fields and variants).
fn render() -> (String, Vec<String>) {
    let items = parse_items();
    let mut out = INTRO.to_string();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    let mut pending: VecDeque<String> = ROOTS.iter().map(|(name, _)| name.to_string()).collect();
    while let Some(name) = pending.pop_front() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let mut queue = Vec::new();
        let title = ROOTS
            .iter()
            .find(|(root, _)| *root == name)
            .map_or(String::new(), |(_, title)| format!(": {title}"));
        let _ = writeln!(out, "\n## {name}{title}\n");
        if let Some(item) = items.structs.get(&name) {
            let _ = writeln!(out, "{}", doc(&item.attrs));
            fields_table(
                &name,
                &item.fields,
                &items,
                &mut out,
                &mut problems,
                &mut queue,
            );
        } else if let Some(item) = items.enums.get(&name) {
            let _ = writeln!(out, "{}", doc(&item.attrs));
            enum_section(item, &items, &mut out, &mut problems, &mut queue);
        }
        pending.extend(queue);
    }
    (out, problems)
}

#[test]
fn the_job_reference_documents_every_field_and_is_current() {
    let (text, problems) = render();
    assert!(problems.is_empty(), "undocumented: {problems:#?}");
    let path = format!("{}/../docs/jobs.md", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("LAKEJOB_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == text,
        "docs/jobs.md is not what the spec's types say; run LAKEJOB_UPDATE_DOCS=1 cargo test -p lakejob-jobs reference"
    );
}
