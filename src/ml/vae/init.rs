//! The starting draws both passes share, so one seed gives the burn model and
//! the fused pass the same model.

/// A dense layer's starting weights (inputs × outputs, row-major) and bias,
/// uniform in ±1/√inputs: burn's `Linear` (in `reference`) and the fused pass's layers both
/// start from these, so one seed gives both passes the same model.
pub fn layer_draws(inputs: usize, outputs: usize, rng: &mut impl rand::Rng) -> (Vec<f32>, Vec<f32>) {
    let bound = (1.0 / inputs as f64).sqrt() as f32;
    let mut draw = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-bound..bound)).collect() };
    let weight = draw(inputs * outputs);
    (weight, draw(outputs))
}

/// The l × l identity, row-major: the adapter A's start.
pub fn identity(l: usize) -> Vec<f32> {
    (0..l * l).map(|k| if k / l == k % l { 1.0 } else { 0.0 }).collect()
}

/// The spatial decoder's pixel coordinates, (column, row) scaled to [-1, 1],
/// row-major: both passes decode the same grid.
pub fn pixel_grid(side: usize) -> Vec<(f32, f32)> {
    let s = (side - 1).max(1) as f32;
    (0..side * side)
        .map(|k| {
            let (r, c) = ((k / side) as f32, (k % side) as f32);
            (2.0 * c / s - 1.0, 2.0 * r / s - 1.0)
        })
        .collect()
}
