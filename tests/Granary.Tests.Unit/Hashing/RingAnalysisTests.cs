using Granary.Hashing;

namespace Granary.Tests.Unit.Hashing;

public sealed class RingAnalysisTests
{
    [Fact]
    public void TenNodesWith160VirtualNodesSpreadAMillionKeysEvenly()
    {
        var report = RingAnalysis.Analyze(nodes: 10, virtualNodesPerWeight: 160, keys: 1_000_000);

        Assert.True(report.PeakToMean <= 1.2, $"Peak-to-mean {report.PeakToMean:F4} exceeds 1.2.");
        Assert.True(report.MinToMean >= 0.8, $"Min-to-mean {report.MinToMean:F4} is below 0.8.");
        Assert.Equal(1_000_000, report.KeysPerNode.Values.Sum());
        Assert.Equal(0, report.MovedOnAddToOldNodes);
        Assert.InRange(report.MovedOnAdd, report.IdealMovedOnAdd / 1.3, report.IdealMovedOnAdd * 1.3);
        Assert.InRange(report.MovedOnRemove, report.IdealMovedOnRemove / 1.3, report.IdealMovedOnRemove * 1.3);
        Assert.True(report.BoundedLoadPeakToMean <= 1.25 + 1e-3, $"Bounded peak-to-mean {report.BoundedLoadPeakToMean:F4}.");
    }

    [Fact]
    public void FewVirtualNodesBalanceWorseThanMany()
    {
        var few = RingAnalysis.Analyze(nodes: 10, virtualNodesPerWeight: 4, keys: 100_000);
        var many = RingAnalysis.Analyze(nodes: 10, virtualNodesPerWeight: 160, keys: 100_000);
        Assert.True(few.RelativeStdDev > many.RelativeStdDev);
    }

    [Fact]
    public void InvalidArgumentsThrow()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => RingAnalysis.Analyze(1, 160, 1000));
        Assert.Throws<ArgumentOutOfRangeException>(() => RingAnalysis.Analyze(3, 160, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => RingAnalysis.Analyze(3, 160, RingAnalysis.MaxKeys + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => RingAnalysis.Analyze(3, 0, 1000));
    }
}
