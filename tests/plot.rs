//! The plots are valid SVG (parsed here) with the expected series, labels and
//! scales.

use gradnet::data::Dataset;
use gradnet::fit::{Trainer, Verbosity};
use gradnet::metrics::Accuracy;
use gradnet::plot::{self, LineChart, PlotError, Scale};
use gradnet::prelude::*;

network! {
    struct Small {
        input: 2,
        dense(8),
        relu,
        dense(2),
        loss: cross_entropy,
    }
}

/// The texts of an SVG document, and the number of series drawn: the distinct
/// colours of its 2-pixel lines (each series is one colour, drawn in the plot and
/// in the legend; axes and ticks are 1 pixel wide).
fn parse(svg: &str) -> (Vec<String>, usize) {
    let doc = roxmltree::Document::parse(svg).expect("valid XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").trim().to_string())
        .collect();
    let mut colours: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke-width") == Some("2"))
        .filter_map(|n| n.attribute("stroke"))
        .collect();
    colours.sort_unstable();
    colours.dedup();
    (texts, colours.len())
}

fn history() -> gradnet::fit::History {
    let mut x = Batch::<f64, 2>::zeros(64);
    gradnet::rng::fill_normal(x.as_mut_slice(), 0.0, 1.0, &mut seeded(0)).unwrap();
    let y: Vec<usize> = x
        .iter_rows()
        .map(|r| usize::from(r[0] * r[1] > 0.0))
        .collect();
    let data = Dataset::new(x, y).unwrap();
    let mut net = Small::<f64>::new(&mut seeded(1));
    let mut opt = AdamConfig::default().lr(0.05).build().unwrap();
    Trainer::new(8, 16)
        .metric(Accuracy)
        .validation_split(0.25)
        .gradient_report_every(2)
        .verbosity(Verbosity::Quiet)
        .fit(&mut net, &mut opt, &data)
        .unwrap()
}

#[test]
fn the_history_plot_has_train_and_validation_curves_of_each_quantity() {
    let h = history();
    let svg = plot::history(&h, "xor-ish").unwrap();
    let (texts, lines) = parse(&svg);
    for want in [
        "train loss",
        "validation loss",
        "train accuracy",
        "validation accuracy",
        "epoch",
    ] {
        assert!(texts.iter().any(|t| t == want), "no {want:?} in {texts:?}");
    }
    assert!(texts.iter().any(|t| t == "xor-ish: loss"));
    // Two series per chart (the charts reuse the palette).
    assert_eq!(lines, 2);
    let charts = plot::history_charts(&h, "t");
    assert_eq!(charts.len(), 2);
    assert_eq!(
        charts[0].names().collect::<Vec<_>>(),
        ["train loss", "validation loss"]
    );
}

#[test]
fn the_depth_profile_is_one_line_per_configuration_on_a_log_axis() {
    let sigmoid: Vec<f64> = (0..10).map(|l| 10f64.powi(l - 10)).collect();
    let relu = [0.5; 10];
    let chart = plot::depth_profile(
        "gradient norm by depth",
        [("sigmoid", &sigmoid[..]), ("relu", &relu[..])],
    )
    .unwrap();
    assert!(chart.is_log());
    let svg = chart.to_svg().unwrap();
    let (texts, lines) = parse(&svg);
    assert_eq!(lines, 2);
    assert!(texts.iter().any(|t| t == "sigmoid") && texts.iter().any(|t| t == "relu"));
    assert!(texts.iter().any(|t| t == "layer (1 = first)"));
    assert!(
        texts.iter().any(|t| t.contains("e-")),
        "log-axis labels: {texts:?}"
    );
}

#[test]
fn gradients_over_training_show_each_weight() {
    let h = history();
    assert_eq!(h.gradients().len(), 12, "every 2nd of 24 steps");
    let chart = plot::gradients_over_training(&h, "norms").unwrap();
    assert_eq!(chart.names().collect::<Vec<_>>(), ["0.weight", "2.weight"]);
    let (texts, lines) = parse(&chart.to_svg().unwrap());
    assert_eq!(lines, 2);
    assert!(texts.iter().any(|t| t == "step"));
}

#[test]
fn scales_and_empty_charts() {
    let linear = LineChart::new("a", "x", "y").series("s", [(0.0, 1.0), (1.0, 2.0)]);
    assert!(!linear.is_log());
    assert!(linear.clone().scale(Scale::Log).is_log());
    // Non-finite points are left out; a chart of none is an error.
    let e = LineChart::new("empty", "x", "y")
        .series("s", [(0.0, f64::NAN), (1.0, f64::INFINITY)])
        .to_svg()
        .unwrap_err();
    assert!(matches!(e, PlotError::Empty(ref t) if t == "empty"), "{e}");
    let svg = LineChart::new("diverged", "x", "y")
        .series("s", [(0.0, 1.0), (1.0, 2.0), (2.0, f64::NAN)])
        .to_svg()
        .unwrap();
    parse(&svg);
    let dir = std::env::temp_dir().join(format!("gradnet-plot-{}", std::process::id()));
    let path = dir.join("a/b.svg");
    linear.save(&path).unwrap();
    parse(&std::fs::read_to_string(&path).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}
