//! A trace as a picture: one column per hop, left to right, boxes for
//! addresses coloured by what they are, arrows as thick as the money they
//! carried (log scale, so a peel of 1 ETH still shows beside 10,000).
//! Self-contained SVG: no script, no font or stylesheet from elsewhere,
//! every text escaped (labels come from lists anyone can publish).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use alloy_primitives::{Address, U256};

use crate::output::Units;
use crate::{Asset, Trace, Why};

const BOX_W: i64 = 210;
const BOX_H: i64 = 46;
const COL: i64 = 300;
const ROW: i64 = 64;
const TOP: i64 = 70;
/// More boxes than this in one column are summarised, not drawn.
const MAX_PER_COLUMN: usize = 40;

struct Style {
    fill: &'static str,
    stroke: &'static str,
    kind: &'static str,
}

const START: Style = Style { fill: "#fde0dd", stroke: "#c51b8a", kind: "start" };
const EXCHANGE: Style = Style { fill: "#deebf7", stroke: "#3182bd", kind: "exchange" };
const MIXER: Style = Style { fill: "#efedf5", stroke: "#756bb1", kind: "mixer" };
const BRIDGE: Style = Style { fill: "#e5f5e0", stroke: "#31a354", kind: "bridge" };
const HOLDS: Style = Style { fill: "#fee6ce", stroke: "#e6550d", kind: "holds funds now" };
const FLAGGED: Style = Style { fill: "#ffffff", stroke: "#de2d26", kind: "on a list (sanction, theft, …)" };
const HOP: Style = Style { fill: "#f7f7f7", stroke: "#969696", kind: "passed funds on" };

impl Trace {
    /// The picture.
    pub fn to_svg(&self, units: &Units) -> String {
        let holds: HashMap<Address, ()> =
            self.terminals.iter().filter(|t| t.why == Why::Holds).map(|t| (t.address, ())).collect();
        let mut columns: BTreeMap<u32, Vec<&crate::Node>> = BTreeMap::new();
        for node in &self.nodes {
            columns.entry(node.hop).or_default().push(node);
        }
        let mut place: HashMap<Address, (i64, i64)> = HashMap::new();
        let mut hidden: BTreeMap<u32, usize> = BTreeMap::new();
        for (&hop, nodes) in &columns {
            for (row, node) in nodes.iter().enumerate() {
                if row >= MAX_PER_COLUMN {
                    *hidden.entry(hop).or_default() += 1;
                    continue;
                }
                place.insert(node.address, (20 + i64::from(hop) * COL, TOP + row as i64 * ROW));
            }
        }
        let tallest = columns.values().map(|c| c.len().min(MAX_PER_COLUMN + 1)).max().unwrap_or(1) as i64;
        let width = 40 + (columns.keys().last().copied().unwrap_or(0) as i64 + 1) * COL;
        let height = TOP + tallest * ROW + 150;
        let mut svg = String::new();
        let _ = write!(
            svg,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#636363"/></marker></defs>
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="20" y="28" font-size="16" font-weight="bold">{title}</text>
<text x="20" y="48" fill="#636363">{subtitle}</text>
"##,
            title = escape(&format!("{} trace from {}", self.direction.as_str(), self.start.join(", "))),
            subtitle = escape(&format!(
                "{} rule, {} hops at most, {} transfers followed; ignored {} zero-value and {} dust; {}",
                self.rule.as_str(),
                self.max_depth,
                self.edges.len(),
                self.ignored.zero_value,
                self.ignored.dust,
                self.source
            )),
        );
        self.draw_edges(&mut svg, &place, units);
        for node in &self.nodes {
            let Some(&(x, y)) = place.get(&node.address) else { continue };
            let style = match (&node.label, node.start) {
                (_, true) => &START,
                (Some(l), _) if l.stops && l.category == "exchange" => &EXCHANGE,
                (Some(l), _) if l.stops && l.category == "mixer" => &MIXER,
                (Some(l), _) if l.stops => &BRIDGE,
                (Some(_), _) => &FLAGGED,
                (None, _) if holds.contains_key(&node.address) => &HOLDS,
                _ => &HOP,
            };
            let text = format!("{:#x}", node.address);
            let short = format!("{}…{}", &text[..8], &text[text.len() - 6..]);
            let label = node.label.as_ref().map(|l| l.describe()).unwrap_or_default();
            let label: String = label.chars().take(30).collect();
            let _ = writeln!(
                svg,
                r##"<g><title>{full}</title><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="{fill}" stroke="{stroke}" stroke-width="2"/><text x="{tx}" y="{ty}" font-family="monospace">{short}</text><text x="{tx}" y="{ly}" fill="#636363">{label}</text></g>"##,
                full = escape(&format!(
                    "{}{}",
                    node.address.to_checksum(None),
                    if label.is_empty() { String::new() } else { format!(" — {label}") }
                )),
                fill = style.fill,
                stroke = style.stroke,
                tx = x + 10,
                ty = y + 19,
                ly = y + 36,
                short = escape(&short),
                label = escape(&label),
            );
        }
        for (hop, count) in hidden {
            let x = 20 + i64::from(hop) * COL;
            let y = TOP + MAX_PER_COLUMN as i64 * ROW + 16;
            let _ =
                writeln!(svg, r##"<text x="{x}" y="{y}" fill="#636363">… {count} more, in the JSON and CSV</text>"##);
        }
        let legend_y = height - 70;
        for (i, style) in [&START, &HOP, &HOLDS, &FLAGGED, &EXCHANGE, &MIXER, &BRIDGE].iter().enumerate() {
            let x = 20 + i as i64 * 170;
            let _ = writeln!(
                svg,
                r#"<rect x="{x}" y="{legend_y}" width="18" height="14" rx="3" fill="{}" stroke="{}" stroke-width="2"/><text x="{}" y="{}">{}</text>"#,
                style.fill,
                style.stroke,
                x + 24,
                legend_y + 12,
                escape(style.kind)
            );
        }
        let _ = writeln!(
            svg,
            r##"<text x="20" y="{}" fill="#636363">Arrow width: the amount traced along it (log scale). Hover a box for the full address.</text>"##,
            legend_y + 40
        );
        svg.push_str("</svg>\n");
        svg
    }

    fn draw_edges(&self, svg: &mut String, place: &HashMap<Address, (i64, i64)>, units: &Units) {
        let mut sums: BTreeMap<(Address, Address, Asset), (U256, usize)> = BTreeMap::new();
        for e in &self.edges {
            let key = if self.direction == crate::Direction::Forward {
                (e.from, e.to, e.asset)
            } else {
                (e.to, e.from, e.asset)
            };
            let entry = sums.entry(key).or_default();
            entry.0 += e.traced;
            entry.1 += 1;
        }
        let largest = sums.values().map(|(a, _)| *a).max().unwrap_or(U256::from(1u8));
        let scale = |amount: U256| -> f64 {
            // Drawing only: the bits of the amount against the largest's.
            let bits = |v: U256| f64::from(v.bit_len().max(1) as u32);
            1.0 + 9.0 * (bits(amount) / bits(largest)).powi(3)
        };
        for ((from, to, asset), (amount, count)) in sums {
            let (Some(&(fx, fy)), Some(&(tx, ty))) = (place.get(&from), place.get(&to)) else { continue };
            let (x1, y1, x2, y2) = (fx + BOX_W, fy + BOX_H / 2, tx, ty + BOX_H / 2);
            let bend = ((x2 - x1).abs() / 2).max(60);
            let text = units.show(asset, amount);
            let times = if count > 1 { format!(" ({count} transfers)") } else { String::new() };
            let _ = writeln!(
                svg,
                r##"<g><title>{title}</title><path d="M{x1},{y1} C{c1},{y1} {c2},{y2} {x2},{y2}" fill="none" stroke="#636363" stroke-opacity="0.7" stroke-width="{w:.1}" marker-end="url(#arrow)"/><text x="{mx}" y="{my}" fill="#252525" font-size="11">{label}</text></g>"##,
                title = escape(&format!("{from:#x} → {to:#x}: {text}{times}")),
                c1 = x1 + bend,
                c2 = x2 - bend,
                w = scale(amount),
                mx = (x1 + x2) / 2 - 30,
                my = (y1 + y2) / 2 - 6,
                label = escape(&text),
            );
        }
    }
}

/// XML text and attribute escaping.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}
