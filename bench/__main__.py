"""Run every benchmark: ``make bench`` or ``.venv/bin/python -m bench``."""

from bench import fixed_architecture, progress_overhead, search_vs_kerastuner, trainer_speed

for module in (trainer_speed, fixed_architecture, search_vs_kerastuner, progress_overhead):
    print(f"\n== {module.__name__} ==")
    module.main()
