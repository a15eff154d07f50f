using Granary.Documents;
using Granary.Errors;
using Granary.Tests.Cluster.Infrastructure;

namespace Granary.Tests.Cluster.Foundation;

/// <summary>Definition of the shared fast cluster (one per run).</summary>
[CollectionDefinition(Name)]
public sealed class FastClusterCollection : ICollectionFixture<FastClusterFixture>
{
    /// <summary>Collection name.</summary>
    public const string Name = "fast-cluster";
}

/// <summary>Document grains on the in-process cluster with memory storage.</summary>
[Collection(FastClusterCollection.Name)]
public sealed class FastClusterTests(FastClusterFixture fixture)
{
    [Fact]
    public async Task Put_then_get_returns_the_value_and_version()
    {
        var doc = fixture.Grains.GetGrain<IDocumentGrain>("fast-" + Guid.NewGuid());
        var written = await doc.PutAsync("hello", expectedVersion: 0);
        var read = await doc.GetAsync();

        Assert.Equal(1, written.Version);
        Assert.Equal("hello", read.Value);
        Assert.Equal(1, read.Version);
    }

    [Fact]
    public async Task Stale_expected_version_is_refused_and_changes_nothing()
    {
        var doc = fixture.Grains.GetGrain<IDocumentGrain>("fast-" + Guid.NewGuid());
        await doc.PutAsync("one");
        await doc.PutAsync("two");

        var error = await Assert.ThrowsAsync<VersionConflictException>(() => doc.PutAsync("stale", expectedVersion: 1));

        Assert.Equal(ErrorCodes.Conflict, error.Code);
        Assert.Equal(2, error.Actual);
        var read = await doc.GetAsync();
        Assert.Equal("two", read.Value);
        Assert.Equal(2, read.Version);
    }

    [Fact]
    public async Task Oversized_value_is_a_typed_error()
    {
        var doc = fixture.Grains.GetGrain<IDocumentGrain>("fast-" + Guid.NewGuid());
        await doc.PutAsync("kept");

        var error = await Assert.ThrowsAsync<InvalidRequestException>(() => doc.PutAsync(new string('x', Limits.MaxValueLength + 1)));

        Assert.Equal("value", error.Parameter);
        Assert.Equal("kept", (await doc.GetAsync()).Value);
    }
}
