using Granary.Security;

namespace Granary.Documents;

/// <summary>
/// A small durable document keyed by name: the simplest grain whose state lives in Granary's
/// storage (PostgreSQL shards or memory). Used to show and test where state is placed.
/// </summary>
/// <example><code>
/// var doc = grains.GetGrain&lt;IDocumentGrain&gt;("profile:42");
/// var v1 = await doc.PutAsync("hello", expectedVersion: 0);
/// </code></example>
[Requires(Permission.DocumentRead)]
[Alias("granary.document")]
public interface IDocumentGrain : IGrainWithStringKey
{
    /// <summary>The current document (version 0 and a null value when never written).</summary>
    [Alias("get")]
    Task<DocumentSnapshot> GetAsync();

    /// <summary>
    /// Replaces the value; durable before it returns. With <paramref name="expectedVersion"/> the
    /// write succeeds only if the document is at that version (0 = never written), else
    /// <see cref="Errors.VersionConflictException"/>.
    /// </summary>
    [Requires(Permission.DocumentWrite)]
    [Alias("put")]
    Task<DocumentSnapshot> PutAsync(string value, long? expectedVersion = null);
}

/// <summary>A document as read or written.</summary>
[GenerateSerializer, Alias("granary.document.snapshot")]
public sealed record DocumentSnapshot(
    [property: Id(0)] string Key,
    [property: Id(1)] string? Value,
    [property: Id(2)] long Version,
    [property: Id(3)] DateTimeOffset? UpdatedAt,
    [property: Id(4)] string HostedBy);
