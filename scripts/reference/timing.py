"""The timing rule of docs/workloads.md, shared by the reference scripts: untimed warm-up
steps, then the median of the timed ones."""
import statistics, time


def median_step(step, warmup=5, steps=50):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
