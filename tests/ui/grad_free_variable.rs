fn main() {
    let f = gradnet::grad!(|x, y| x * w);
    let _ = f(1.0f64, 2.0);
}
