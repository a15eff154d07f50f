using Granary.Diagnostics;

namespace Granary.Tests.Unit.Diagnostics;

public sealed class LatencyHistogramTests
{
    [Fact]
    public void Percentiles_are_within_the_bucket_resolution_of_the_exact_values()
    {
        var random = new Random(7);
        var values = Enumerable.Range(0, 20_000).Select(_ => Math.Exp((random.NextDouble() * 10) - 5)).ToArray();
        var histogram = new LatencyHistogram();
        foreach (var v in values)
        {
            histogram.Record(v);
        }

        Array.Sort(values);
        foreach (var q in new[] { 0.5, 0.9, 0.99, 0.999 })
        {
            var exact = values[(int)Math.Ceiling(q * values.Length) - 1];
            var estimate = histogram.Percentile(q);
            Assert.InRange(estimate, exact, exact * Math.Pow(2, 1.0 / LatencyHistogram.BucketsPerOctave) * 1.0001);
        }

        Assert.Equal(values.Length, histogram.Count);
        Assert.Equal(values[^1], histogram.Max);
        Assert.Equal(values.Sum(), histogram.Sum, 6);
    }

    [Fact]
    public void Merging_two_histograms_equals_recording_everything_in_one()
    {
        var a = new LatencyHistogram();
        var b = new LatencyHistogram();
        var all = new LatencyHistogram();
        for (var i = 1; i <= 1000; i++)
        {
            var v = i * 0.013;
            (i % 3 == 0 ? a : b).Record(v);
            all.Record(v);
        }

        var merged = new LatencyHistogram();
        merged.Merge(a.Buckets, a.Count, a.Sum, a.Max);
        merged.Merge(b.Buckets, b.Count, b.Sum, b.Max);

        Assert.Equal(all.Count, merged.Count);
        Assert.Equal(all.Max, merged.Max);
        Assert.Equal(all.Percentile(0.5), merged.Percentile(0.5));
        Assert.Equal(all.Percentile(0.99), merged.Percentile(0.99));
    }

    [Fact]
    public void An_empty_histogram_reads_zero_and_bad_values_count_as_zero()
    {
        var histogram = new LatencyHistogram();
        Assert.Equal(0, histogram.Percentile(0.99));

        histogram.Record(double.NaN);
        histogram.Record(-3);
        Assert.Equal(2, histogram.Count);
        Assert.Equal(0, histogram.Percentile(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => histogram.Percentile(1.5));
    }
}
