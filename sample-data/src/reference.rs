//! The small reference tables: exchange rates and the category tree.

use crate::FileContents;

/// (currency, rate_to_usd): what one unit of the currency is worth in US dollars.
pub const FX_RATES: [(&str, &str); 4] = [
    ("USD", "1.000000"),
    ("EUR", "1.085000"),
    ("GBP", "1.270000"),
    ("INR", "0.012000"),
];

/// (category_id, category_name, department).
pub const CATEGORIES: [(&str, &str, &str); 24] = [
    ("CAT-001", "Running Shoes", "Footwear"),
    ("CAT-002", "Hiking Boots", "Footwear"),
    ("CAT-003", "Sandals", "Footwear"),
    ("CAT-004", "Jackets", "Apparel"),
    ("CAT-005", "T-Shirts", "Apparel"),
    ("CAT-006", "Trousers", "Apparel"),
    ("CAT-007", "Socks", "Apparel"),
    ("CAT-008", "Tents", "Outdoor"),
    ("CAT-009", "Sleeping Bags", "Outdoor"),
    ("CAT-010", "Backpacks", "Outdoor"),
    ("CAT-011", "Headphones", "Electronics"),
    ("CAT-012", "Smartwatches", "Electronics"),
    ("CAT-013", "Cameras", "Electronics"),
    ("CAT-014", "Chargers", "Electronics"),
    ("CAT-015", "Cookware", "Home"),
    ("CAT-016", "Bedding", "Home"),
    ("CAT-017", "Lighting", "Home"),
    ("CAT-018", "Yoga Mats", "Fitness"),
    ("CAT-019", "Dumbbells", "Fitness"),
    ("CAT-020", "Bikes", "Fitness"),
    ("CAT-021", "Novels", "Books"),
    ("CAT-022", "Cookbooks", "Books"),
    ("CAT-023", "Board Games", "Toys"),
    ("CAT-024", "Puzzles", "Toys"),
];

pub(crate) fn files() -> Vec<FileContents> {
    let mut fx = String::from("currency,rate_to_usd\n");
    for (currency, rate) in FX_RATES {
        fx.push_str(&format!("{currency},{rate}\n"));
    }
    let mut categories = String::from("category_id,category_name,department\n");
    for (id, name, department) in CATEGORIES {
        categories.push_str(&format!("{id},{name},{department}\n"));
    }
    vec![
        FileContents {
            source: "reference",
            path: "reference/fx_rates.csv".into(),
            records: FX_RATES.len() as u64,
            contents: fx.into_bytes(),
        },
        FileContents {
            source: "reference",
            path: "reference/categories.csv".into(),
            records: CATEGORIES.len() as u64,
            contents: categories.into_bytes(),
        },
    ]
}
