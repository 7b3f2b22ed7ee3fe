"""The main job in about ten minutes on two cores (`main_job`), and the render-settings sweep
(`render_sweep`); both build on `setup`; the verb is `cli`."""
