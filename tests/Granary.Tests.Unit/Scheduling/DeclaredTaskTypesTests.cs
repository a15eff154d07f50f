using Granary.Scheduling;
using Microsoft.Extensions.Time.Testing;

namespace Granary.Tests.Unit.Scheduling;

public sealed class DeclaredTaskTypesTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(5);
    private readonly FakeTimeProvider _time = new();
    private readonly Dictionary<string, List<string>> _declared = new(StringComparer.Ordinal) { ["emails"] = ["send-email"] };

    private DeclaredTaskTypes NewCache() => new(queue => Task.FromResult<IReadOnlyList<string>>([.. _declared.GetValueOrDefault(queue) ?? []]), Ttl, _time);

    [Fact]
    public async Task A_burst_of_submissions_of_a_declared_type_costs_one_read_per_ttl()
    {
        var types = NewCache();

        for (var i = 0; i < 100; i++)
        {
            Assert.True(await types.IsDeclaredAsync("emails", "send-email"));
        }

        Assert.Equal(1, types.Reads);
        _time.Advance(Ttl);
        Assert.True(await types.IsDeclaredAsync("emails", "send-email"));
        Assert.Equal(2, types.Reads);
    }

    [Fact]
    public async Task A_type_declared_after_the_list_was_kept_is_accepted_at_once()
    {
        var types = NewCache();
        Assert.True(await types.IsDeclaredAsync("emails", "send-email"));
        Assert.False(await types.IsDeclaredAsync("emails", "send-sms"));

        // A worker declares a new type within the ttl: a fresh read would accept it, so must the cache.
        _declared["emails"].Add("send-sms");

        Assert.True(await types.IsDeclaredAsync("emails", "send-sms"));
        Assert.Contains("send-sms", types.Kept("emails"));
    }

    [Fact]
    public async Task A_type_nobody_declared_is_refused_after_a_fresh_read_every_time()
    {
        var types = NewCache();
        await types.IsDeclaredAsync("emails", "send-email");
        var before = types.Reads;

        Assert.False(await types.IsDeclaredAsync("emails", "unknown"));
        Assert.False(await types.IsDeclaredAsync("emails", "unknown"));

        Assert.Equal(before + 2, types.Reads);
    }

    [Fact]
    public async Task A_type_withdrawn_is_refused_once_the_ttl_has_passed()
    {
        var types = NewCache();
        Assert.True(await types.IsDeclaredAsync("emails", "send-email"));
        _declared["emails"].Clear();

        _time.Advance(Ttl);

        Assert.False(await types.IsDeclaredAsync("emails", "send-email"));
    }
}
