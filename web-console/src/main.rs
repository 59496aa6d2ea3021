fn main() {
    yew::Renderer::<web_console::App>::new().render();
}
