using System.Collections.Concurrent;
using Granary.Client.Caching;

namespace Granary.Client.DependencyInjection;

/// <summary>
/// The <see cref="CacheClient"/> of each cache, connected once per name on first use and disposed
/// with this object (registered as a singleton by
/// <see cref="GranaryClientServiceCollectionExtensions.AddGranaryClient"/>).
/// </summary>
/// <example><code>
/// var catalogue = await caches.GetAsync("catalogue", ct);
/// await catalogue.SetAsync("sku-1", "apples");
/// </code></example>
public sealed class CacheClients(IGrainFactory grains, CacheClientOptions? options = null) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<Task<CacheClient>>> _clients = new(StringComparer.Ordinal);
    private readonly CacheClientOptions _options = options ?? new CacheClientOptions();
    private int _disposed;

    /// <summary>The client of the cache <paramref name="cacheName"/> (which must exist), connecting it on the first call.</summary>
    /// <exception cref="ObjectDisposedException">This object was disposed.</exception>
    public async Task<CacheClient> GetAsync(string cacheName, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(cacheName);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        cancellationToken.ThrowIfCancellationRequested();
        var connect = _clients.GetOrAdd(cacheName, name => new Lazy<Task<CacheClient>>(() => CacheClient.ConnectAsync(grains, name, _options)));
        try
        {
            return await connect.Value.WaitAsync(cancellationToken);
        }
        catch (Exception) when (connect.Value.IsFaulted || connect.Value.IsCanceled)
        {
            // A failed connect is not cached: the next call tries again.
            _clients.TryRemove(new KeyValuePair<string, Lazy<Task<CacheClient>>>(cacheName, connect));
            throw;
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var connect in _clients.Values)
        {
            if (connect.IsValueCreated && connect.Value.IsCompletedSuccessfully)
            {
                await connect.Value.Result.DisposeAsync();
            }
        }

        _clients.Clear();
    }
}
