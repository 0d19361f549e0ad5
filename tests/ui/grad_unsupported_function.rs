fn main() {
    let f = gradnet::grad!(|x, y| x * y.atan());
    let _ = f(1.0f64, 2.0);
}
