fn main() {
    let f = gradnet::grad!(|x| x * x, hesian);
    let _ = f(1.0f64);
}
