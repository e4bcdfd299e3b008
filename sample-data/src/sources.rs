//! The four raw sources, one day at a time. Rates of dirty rows follow docs/data.md.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::text::{
    push_cents, push_csv_quoted, push_id, push_int, push_json_string, push_timestamp,
};
use crate::{
    CLICKSTREAM_AT_SCALE_1, FileContents, GenerateOptions, REVIEWS_AT_SCALE_1,
    TRANSACTIONS_AT_SCALE_1, reference,
};

const DAY_MS: i64 = 86_400_000;

/// A raw source of docs/data.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Transactions,
    Products,
    Clickstream,
    Reviews,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Transactions => "transactions",
            Source::Products => "products",
            Source::Clickstream => "clickstream",
            Source::Reviews => "reviews",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Source::Transactions | Source::Reviews => "csv",
            Source::Products | Source::Clickstream => "jsonl",
        }
    }
}

/// SplitMix64: turns any integer into a well-mixed one. Used for seeds and for the fixed
/// attributes of products and customers, so every day agrees on them without shared state.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn attribute(seed: u64, kind: u64, id: u64) -> u64 {
    mix(seed ^ mix(kind.wrapping_mul(0x1000_0000_01B3) ^ id))
}

/// The state shared by one (source, day) task.
struct Day<'a> {
    options: &'a GenerateOptions,
    source: Source,
    index: u32,
    date: String,
    start_ms: i64,
    rng: ChaCha8Rng,
}

impl<'a> Day<'a> {
    fn new(options: &'a GenerateOptions, source: Source, index: u32) -> Self {
        let date = options.day(index);
        let start_ms = date
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis())
            .unwrap_or_default();
        let seed = mix(options.seed ^ mix(source as u64 + 1) ^ mix(u64::from(index) << 20));
        Self {
            options,
            source,
            index,
            date: date.format("%Y-%m-%d").to_string(),
            start_ms,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    fn file(
        &self,
        folder_date: &str,
        suffix: &str,
        records: u64,
        contents: Vec<u8>,
    ) -> FileContents {
        let name = self.source.name();
        FileContents {
            source: name,
            path: format!(
                "raw/{name}/date={folder_date}/{name}_{}{suffix}.{}",
                self.date,
                self.source.extension()
            ),
            records,
            contents,
        }
    }

    fn chance(&mut self, probability: f64) -> bool {
        self.rng.random_bool(probability)
    }

    fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.rng.random_range(0..items.len())]
    }

    fn product_number(&mut self) -> u64 {
        self.rng.random_range(1..=self.options.product_count())
    }

    fn customer_number(&mut self) -> u64 {
        self.rng.random_range(1..=self.options.customer_count())
    }
}

pub(crate) fn generate_day(
    options: &GenerateOptions,
    source: Source,
    index: u32,
) -> Vec<FileContents> {
    let mut day = Day::new(options, source, index);
    match source {
        Source::Transactions => transactions(&mut day),
        Source::Products => products(&mut day),
        Source::Clickstream => clickstream(&mut day),
        Source::Reviews => reviews(&mut day),
    }
}

// ---------------------------------------------------------------------------------------------
// Products: fixed attributes derived from the product number.

const BRANDS: [&str; 10] = [
    "Northpeak",
    "Riverline",
    "Solace",
    "Kite & Co",
    "Urbano",
    "Fjell",
    "Ardent",
    "Lumen",
    "Crestway",
    "Nimbus",
];
const ADJECTIVES: [&str; 12] = [
    "Trail", "Classic", "Ultra", "Compact", "Urban", "Alpine", "Swift", "Prime", "Eco", "Pro",
    "Lite", "Max",
];
const NOUNS: [&str; 12] = [
    "Runner", "Shell", "Pack", "Lamp", "Watch", "Pan", "Mat", "Tent", "Tee", "Boot", "Cam", "Set",
];
const COLORS: [&str; 8] = [
    "red", "blue", "black", "white", "green", "grey", "orange", "navy",
];
const SIZES: [&str; 6] = ["XS", "S", "M", "L", "XL", "one-size"];

/// The list price of a product in US cents: from $1.99 to $499.99.
fn product_price_cents(seed: u64, product: u64) -> i64 {
    199 + (attribute(seed, 1, product) % 49_800) as i64
}

fn push_product_line(day: &mut Day<'_>, out: &mut Vec<u8>, product: u64, updated_ms: i64) {
    let seed = day.options.seed;
    let base = product_price_cents(seed, product);
    // Prices move by up to 20% from day to day.
    let price = if day.index == 0 {
        base
    } else {
        base * day.rng.random_range(80..=120) / 100
    };
    let stock: i64 = match day.rng.random_range(0..100) {
        0..=4 => 0,
        5..=14 => day.rng.random_range(1..10),
        _ => day.rng.random_range(10..500),
    };
    let broken = day.chance(0.001);
    let kind = day.rng.random_range(0..3);
    let category = (attribute(seed, 2, product) % reference::CATEGORIES.len() as u64) as usize;
    let name = format!(
        "{} {} {}",
        ADJECTIVES[(attribute(seed, 3, product) % 12) as usize],
        NOUNS[(attribute(seed, 4, product) % 12) as usize],
        attribute(seed, 5, product) % 9 + 1
    );
    let start = out.len();
    out.extend_from_slice(b"{");
    if !(broken && kind == 1) {
        out.extend_from_slice(b"\"product_id\":\"");
        push_id(out, "P", product, 6);
        out.extend_from_slice(b"\",");
    }
    out.extend_from_slice(b"\"sku\":\"");
    push_id(out, "SKU-", product, 6);
    out.extend_from_slice(b"\",\"name\":");
    push_json_string(out, &name);
    out.extend_from_slice(b",\"category_id\":\"");
    out.extend_from_slice(reference::CATEGORIES[category].0.as_bytes());
    out.extend_from_slice(b"\",\"brand\":");
    push_json_string(out, BRANDS[(attribute(seed, 6, product) % 10) as usize]);
    out.extend_from_slice(b",\"price\":");
    push_cents(out, if broken && kind == 2 { -price } else { price });
    out.extend_from_slice(b",\"currency\":\"USD\",\"stock_quantity\":");
    push_int(out, stock);
    out.extend_from_slice(b",\"attributes\":{\"color\":\"");
    out.extend_from_slice(COLORS[(attribute(seed, 7, product) % 8) as usize].as_bytes());
    out.extend_from_slice(b"\",\"size\":\"");
    out.extend_from_slice(SIZES[(attribute(seed, 8, product) % 6) as usize].as_bytes());
    out.extend_from_slice(b"\",\"weight_g\":");
    push_int(out, 50 + (attribute(seed, 9, product) % 5000) as i64);
    out.extend_from_slice(b"},\"is_active\":");
    out.extend_from_slice(if attribute(seed, 10, product) % 100 < 97 {
        b"true"
    } else {
        b"false"
    });
    out.extend_from_slice(b",\"updated_at\":\"");
    push_timestamp(out, updated_ms, false);
    out.extend_from_slice(b"\"}");
    if broken && kind == 0 {
        // Not valid JSON: the line was cut off in transit.
        let cut = start + (out.len() - start) / 2;
        out.truncate(cut);
    }
    out.push(b'\n');
}

fn products(day: &mut Day<'_>) -> Vec<FileContents> {
    let count = day.options.product_count();
    let mut out = Vec::with_capacity(300 * count as usize / if day.index == 0 { 1 } else { 40 });
    let mut records = 0;
    if day.index == 0 {
        // The first day carries the whole catalogue.
        for product in 1..=count {
            let updated = day.start_ms + day.rng.random_range(0..DAY_MS / 4);
            push_product_line(day, &mut out, product, updated);
            records += 1;
        }
    } else {
        // Later days carry the products that changed (about 2% a day); a few are stale
        // re-sends of an older version, which must never win over a newer one.
        let changes = (count / 50).max(1);
        for _ in 0..changes {
            let product = day.product_number();
            let updated = if day.chance(0.002) {
                day.start_ms - i64::from(day.index) * DAY_MS + day.rng.random_range(0..DAY_MS)
            } else {
                day.start_ms + day.rng.random_range(0..DAY_MS)
            };
            push_product_line(day, &mut out, product, updated);
            records += 1;
        }
    }
    let date = day.date.clone();
    vec![day.file(&date, "", records, out)]
}

// ---------------------------------------------------------------------------------------------
// Transactions.

/// (country, currency of its orders).
const COUNTRIES: [(&str, usize); 10] = [
    ("US", 0),
    ("US", 0),
    ("GB", 2),
    ("DE", 1),
    ("FR", 1),
    ("IN", 3),
    ("ES", 1),
    ("NL", 1),
    ("CA", 0),
    ("AU", 0),
];
const PAYMENT_METHODS: [&str; 5] = ["card", "paypal", "upi", "cod", "gift_card"];
const MALFORMED_TIMES: [&str; 5] = [
    "2025-13-45T99:00:00Z",
    "15/01/2025 10:30",
    "not a timestamp",
    "2025-02-30T10:00:00Z",
    "",
];

/// Mixed case and stray spaces, as dirty upstream systems send them.
fn push_messy(day: &mut Day<'_>, out: &mut Vec<u8>, value: &str) {
    match day.rng.random_range(0..4) {
        0 => out.extend_from_slice(value.to_lowercase().as_bytes()),
        1 => out.extend_from_slice(value.to_uppercase().as_bytes()),
        2 => {
            out.push(b' ');
            out.extend_from_slice(value.as_bytes());
            out.push(b' ');
        }
        _ => {
            let mut chars = value.chars();
            if let Some(first) = chars.next() {
                out.extend_from_slice(first.to_uppercase().to_string().as_bytes());
                out.extend_from_slice(chars.as_str().to_lowercase().as_bytes());
            }
        }
    }
}

fn push_maybe_messy(day: &mut Day<'_>, out: &mut Vec<u8>, value: &str) {
    if day.chance(0.005) {
        push_messy(day, out, value);
    } else {
        out.extend_from_slice(value.as_bytes());
    }
}

fn transactions(day: &mut Day<'_>) -> Vec<FileContents> {
    let target = day.options.rows_on_day(TRANSACTIONS_AT_SCALE_1, day.index);
    let mut out = Vec::with_capacity(120 * target as usize + 200);
    out.extend_from_slice(b"transaction_id,order_id,customer_id,product_id,quantity,unit_price,discount,currency,payment_method,status,country,event_time\n");
    let id_base = u64::from(day.index) * 100_000_000;
    let mut resent: Vec<u8> = Vec::new();
    let mut line = Vec::with_capacity(160);
    let (mut rows, mut order, mut transaction) = (0u64, 0u64, 0u64);
    while rows < target {
        order += 1;
        let guest = day.chance(0.005);
        let customer = day.customer_number();
        let (country, currency_index) = if guest {
            *day.pick(&COUNTRIES)
        } else {
            COUNTRIES[(attribute(day.options.seed, 11, customer) % 10) as usize]
        };
        let (currency, rate) = reference::FX_RATES[currency_index];
        let rate: f64 = rate.parse().unwrap_or(1.0);
        let payment = *day.pick(&PAYMENT_METHODS);
        let status = match day.rng.random_range(0..100) {
            0..=84 => "completed",
            85..=91 => "pending",
            92..=96 => "cancelled",
            _ => "refunded",
        };
        let order_ms = day.start_ms + day.rng.random_range(0..DAY_MS);
        let lines = match day.rng.random_range(0..100) {
            0..=49 => 1,
            50..=74 => 2,
            75..=89 => 3,
            90..=96 => 4,
            _ => 5,
        };
        for _ in 0..lines {
            if rows >= target {
                break;
            }
            transaction += 1;
            line.clear();
            push_id(&mut line, "T", id_base + transaction, 12);
            line.push(b',');
            push_id(&mut line, "O", id_base / 10 + order, 10);
            line.push(b',');
            if !guest {
                push_id(&mut line, "C", customer, 8);
            }
            line.push(b',');
            let product = if day.chance(0.001) {
                crate::ORPHAN_PRODUCTS_FROM + day.rng.random_range(0..99_999)
            } else {
                day.product_number()
            };
            push_id(&mut line, "P", product, 6);
            line.push(b',');
            let is_return = status == "refunded" || day.chance(0.01);
            let quantity: i64 = if day.chance(0.0005) {
                0
            } else if is_return {
                -day.rng.random_range(1..=2)
            } else {
                day.rng.random_range(1..=3)
            };
            push_int(&mut line, quantity);
            line.push(b',');
            let usd_cents = product_price_cents(day.options.seed, product) as f64;
            let price = (usd_cents / rate).round() as i64;
            if day.chance(0.001) {
                match day.rng.random_range(0..3) {
                    0 => line.extend_from_slice(b"N/A"),
                    1 => {}
                    _ => {
                        // A decimal comma, quoted because it contains the delimiter.
                        line.push(b'"');
                        let start = line.len();
                        push_cents(&mut line, price);
                        if let Some(dot) = line[start..].iter().position(|b| *b == b'.') {
                            line[start + dot] = b',';
                        }
                        line.push(b'"');
                    }
                }
            } else {
                push_cents(&mut line, price);
            }
            line.push(b',');
            let discount = if quantity > 0 && day.chance(0.3) {
                price * quantity * day.rng.random_range(5..=20) / 100
            } else {
                0
            };
            push_cents(&mut line, discount);
            line.push(b',');
            push_maybe_messy(day, &mut line, currency);
            line.push(b',');
            push_maybe_messy(day, &mut line, payment);
            line.push(b',');
            push_maybe_messy(day, &mut line, status);
            line.push(b',');
            line.extend_from_slice(country.as_bytes());
            line.push(b',');
            if day.chance(0.001) {
                line.extend_from_slice(day.pick(&MALFORMED_TIMES).as_bytes());
            } else {
                push_timestamp(&mut line, order_ms, false);
            }
            line.push(b'\n');
            out.extend_from_slice(&line);
            rows += 1;
            // About 1% are re-sent verbatim later in the file.
            if rows < target && day.chance(0.01) {
                resent.extend_from_slice(&line);
                rows += 1;
            }
        }
    }
    out.extend_from_slice(&resent);
    let date = day.date.clone();
    vec![day.file(&date, "", rows, out)]
}

// ---------------------------------------------------------------------------------------------
// Clickstream.

const REFERRERS: [&str; 5] = [
    "https://www.google.com/",
    "https://www.bing.com/",
    "https://www.facebook.com/",
    "https://newsletter.example.com/",
    "https://www.instagram.com/",
];
const DEVICES: [&str; 3] = ["mobile", "desktop", "tablet"];

fn clickstream(day: &mut Day<'_>) -> Vec<FileContents> {
    let target = day.options.rows_on_day(CLICKSTREAM_AT_SCALE_1, day.index);
    let has_next_day = day.index + 1 < day.options.days;
    let mut out = Vec::with_capacity(250 * target as usize);
    let mut late = Vec::new();
    let mut repeated = Vec::new();
    let mut line = Vec::with_capacity(300);
    let (mut rows, mut late_rows, mut event) = (0u64, 0u64, 0u64);
    let id_base = u64::from(day.index) * 100_000_000;
    while rows + late_rows < target {
        let known = day.chance(0.65);
        let visitor = if known {
            day.customer_number()
        } else {
            day.rng.random_range(1..=u64::from(u32::MAX))
        };
        let anonymous = attribute(day.options.seed, 12 + u64::from(known), visitor) as u32;
        let device = *day.pick(&DEVICES);
        let mut time = day.start_ms + day.rng.random_range(0..DAY_MS);
        let events = 1 + day.rng.random_range(0..12) + day.rng.random_range(0..12);
        let mut cart = false;
        let mut checkout = false;
        for step in 0..events {
            if rows + late_rows >= target {
                break;
            }
            event += 1;
            let kind = if step == 0 {
                "page_view"
            } else if checkout && day.chance(0.6) {
                checkout = false;
                "purchase"
            } else if cart && day.chance(0.15) {
                checkout = true;
                "checkout_start"
            } else {
                match day.rng.random_range(0..100) {
                    0..=29 => "page_view",
                    30..=79 => "product_view",
                    80..=94 => {
                        cart = true;
                        "add_to_cart"
                    }
                    _ => "remove_from_cart",
                }
            };
            let product = day.product_number();
            line.clear();
            line.extend_from_slice(b"{\"event_id\":\"");
            push_id(&mut line, "E", id_base + event, 11);
            line.extend_from_slice(b"\",\"user_id\":");
            if known {
                push_id(&mut line, "\"C", visitor, 8);
                line.push(b'"');
            } else {
                line.extend_from_slice(b"null");
            }
            line.extend_from_slice(b",\"anonymous_id\":\"A");
            let _ = std::io::Write::write_fmt(&mut line, format_args!("{anonymous:08x}"));
            line.extend_from_slice(b"\",\"event_type\":\"");
            line.extend_from_slice(kind.as_bytes());
            line.extend_from_slice(b"\",\"product_id\":");
            let on_product = matches!(kind, "product_view" | "add_to_cart" | "remove_from_cart");
            if on_product {
                push_id(&mut line, "\"P", product, 6);
                line.extend_from_slice(b"\",\"page_url\":\"/p/");
                push_id(&mut line, "P", product, 6);
                line.push(b'"');
            } else {
                let page = match kind {
                    "page_view" => "/",
                    "purchase" => "/checkout/complete",
                    _ => "/checkout",
                };
                line.extend_from_slice(b"null,\"page_url\":\"");
                line.extend_from_slice(page.as_bytes());
                line.push(b'"');
            }
            line.extend_from_slice(b",\"referrer\":");
            if step == 0 && day.chance(0.7) {
                push_json_string(&mut line, day.pick::<&str>(&REFERRERS));
            } else {
                line.extend_from_slice(b"null");
            }
            line.extend_from_slice(b",\"device\":\"");
            line.extend_from_slice(device.as_bytes());
            line.extend_from_slice(b"\",\"event_time\":\"");
            push_timestamp(&mut line, time, true);
            line.extend_from_slice(b"\"}\n");
            // About 1% arrive late, in a file of the next day's folder.
            if has_next_day && day.chance(0.01) {
                late.extend_from_slice(&line);
                late_rows += 1;
            } else {
                out.extend_from_slice(&line);
                rows += 1;
                // About 0.5% are delivered twice.
                if rows + late_rows < target && day.chance(0.005) {
                    repeated.extend_from_slice(&line);
                    rows += 1;
                }
            }
            // Mostly seconds to minutes apart; now and then a pause over 30 minutes.
            time += if day.chance(0.03) {
                day.rng.random_range(31 * 60_000..3 * 3_600_000)
            } else {
                day.rng.random_range(2_000..300_000)
            };
        }
    }
    out.extend_from_slice(&repeated);
    let date = day.date.clone();
    let mut files = vec![day.file(&date, "", rows, out)];
    if has_next_day {
        let next = day
            .options
            .day(day.index + 1)
            .format("%Y-%m-%d")
            .to_string();
        files.push(day.file(&next, "_late", late_rows, late));
    }
    files
}

// ---------------------------------------------------------------------------------------------
// Reviews.

const TITLES: [&str; 8] = [
    "Great value",
    "Not what I expected",
    "Très bien, \"parfait\"",
    "Works, mostly",
    "Größe passt nicht",
    "5 stars!!",
    "すばらしい",
    "Meh 😐",
];
const SENTENCES: [&str; 12] = [
    "Arrived quickly, well packed.",
    "The colour is darker than in the photo, but I like it.",
    "My daughter said \"best gift ever\", so there's that.",
    "Stopped working after two weeks; support was helpful, though.",
    "Qualité correcte pour le prix.",
    "Sehr gut verarbeitet, würde ich wieder kaufen.",
    "Fits true to size, comfortable all day.",
    "1/10, would not recommend, sorry.",
    "期待以上でした。",
    "Worth every rupee ₹ — fantastic.",
    "Battery lasts ~3 days, as promised.",
    "Half the parts were missing, \"new\" my foot.",
];

fn reviews(day: &mut Day<'_>) -> Vec<FileContents> {
    let target = day.options.rows_on_day(REVIEWS_AT_SCALE_1, day.index);
    let mut out = Vec::with_capacity(400 * target as usize + 200);
    out.extend_from_slice(b"review_id,product_id,customer_id,rating,title,body,review_time,verified_purchase,helpful_votes\n");
    let mut repeated = Vec::new();
    let mut line = Vec::with_capacity(600);
    let mut body = String::with_capacity(400);
    let id_base = u64::from(day.index) * 10_000_000;
    let mut rows = 0u64;
    while rows < target {
        line.clear();
        push_id(&mut line, "R", id_base + rows + 1, 10);
        line.push(b',');
        let product = day.product_number();
        push_id(&mut line, "P", product, 6);
        line.push(b',');
        if !day.chance(0.03) {
            let customer = day.customer_number();
            push_id(&mut line, "C", customer, 8);
        }
        line.push(b',');
        let rating: i64 = if day.chance(0.001) {
            *day.pick(&[0, 6, 11, -1])
        } else {
            *day.pick(&[1, 2, 3, 4, 4, 5, 5, 5])
        };
        push_int(&mut line, rating);
        line.push(b',');
        if !day.chance(0.05) {
            push_csv_quoted(&mut line, day.pick::<&str>(&TITLES));
        }
        line.push(b',');
        if !day.chance(0.02) {
            body.clear();
            if day.chance(0.1) {
                body.push_str("  ");
            }
            for sentence in 0..day.rng.random_range(1..=4) {
                if sentence > 0 {
                    body.push_str(if day.chance(0.3) { "\n\n" } else { " " });
                }
                body.push_str(day.pick::<&str>(&SENTENCES));
            }
            if day.chance(0.005) {
                // Control characters pasted from other tools: cleaning must strip them.
                body.push_str("\u{7}\t\u{1b}[0m");
            }
            push_csv_quoted(&mut line, &body);
        }
        line.push(b',');
        let time = day.start_ms + day.rng.random_range(0..DAY_MS);
        push_timestamp(&mut line, time, false);
        line.extend_from_slice(if day.chance(0.8) {
            b",true,"
        } else {
            b",false,"
        });
        push_int(&mut line, day.rng.random_range(0..50));
        line.push(b'\n');
        out.extend_from_slice(&line);
        rows += 1;
        if rows < target && day.chance(0.005) {
            repeated.extend_from_slice(&line);
            rows += 1;
        }
    }
    out.extend_from_slice(&repeated);
    let date = day.date.clone();
    vec![day.file(&date, "", rows, out)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(files: &[FileContents]) -> Vec<String> {
        files
            .iter()
            .flat_map(|f| {
                String::from_utf8_lossy(&f.contents)
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn transactions_carry_every_dirty_kind_at_scale() {
        let options = GenerateOptions {
            scale: 0.5,
            days: 30,
            ..GenerateOptions::default()
        };
        let files = generate_day(&options, Source::Transactions, 3);
        let all = lines(&files);
        assert_eq!(all.len() as u64, 1 + files[0].records);
        let has = |needle: &str| all.iter().any(|l| l.contains(needle));
        assert!(has(",N/A,"), "malformed unit_price");
        assert!(
            all.iter().any(|l| l.contains("\",0.") || l.contains(",\"")),
            "decimal comma"
        );
        assert!(has("not a timestamp") || has("15/01/2025") || has("2025-13-45"));
        assert!(
            all.iter().any(|l| l.split(',').nth(4) == Some("0")),
            "zero quantity"
        );
        assert!(
            all.iter().any(|l| l.split(',').nth(2) == Some("")),
            "guest checkout"
        );
        let mut sorted = all[1..].to_vec();
        sorted.sort();
        sorted.dedup();
        assert!(sorted.len() < all.len() - 1, "re-sent duplicates");
    }

    #[test]
    fn late_clickstream_events_land_in_the_next_days_folder() {
        let options = GenerateOptions {
            scale: 0.05,
            days: 2,
            ..GenerateOptions::default()
        };
        let files = generate_day(&options, Source::Clickstream, 0);
        assert_eq!(files.len(), 2);
        assert!(
            files[1]
                .path
                .starts_with("raw/clickstream/date=2025-01-02/")
        );
        assert!(files[1].records > 0);
        let last = generate_day(&options, Source::Clickstream, 1);
        assert_eq!(
            last.len(),
            1,
            "the last day has no next day to be late into"
        );
    }
}
