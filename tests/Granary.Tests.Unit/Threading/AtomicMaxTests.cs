using Granary.Threading;

namespace Granary.Tests.Unit.Threading;

public sealed class AtomicMaxTests
{
    [Fact]
    public void Raises_only_to_a_larger_value()
    {
        long value = 10;
        Assert.False(AtomicMax.Raise(ref value, 5));
        Assert.False(AtomicMax.Raise(ref value, 10));
        Assert.Equal(10, value);
        Assert.True(AtomicMax.Raise(ref value, 11));
        Assert.Equal(11, value);

        var small = -3L;
        Assert.True(AtomicMax.Raise(ref small, 0));
        Assert.False(AtomicMax.Raise(ref small, -1));
        Assert.Equal(0, small);
    }

    [Fact]
    public async Task Concurrent_raisers_leave_the_largest_value()
    {
        long shared = 0;
        var most = 0L;
        var raisers = Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < 100_000; i++)
            {
                var candidate = (i * 4) + t;
                AtomicMax.Raise(ref shared, candidate);
                AtomicMax.Raise(ref most, candidate);
            }
        }));
        await Task.WhenAll(raisers);

        Assert.Equal(399_999, shared);
        Assert.Equal(399_999, most);
    }
}
