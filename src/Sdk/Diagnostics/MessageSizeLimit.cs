using Orleans.Configuration;

namespace Granary.Client.Diagnostics;

/// <summary>
/// Orleans' message size limit set to <see cref="Limits.MaxMessageBytes"/> on silos and clients.
/// Orleans checks the length when it reads a frame header: a silo closes the connection of a peer
/// that sends a larger frame before it deserialises anything. On the sending side a larger message
/// is not sent: Orleans drops it and closes that connection, and the call fails with its response
/// timeout (Orleans does not hand the caller a typed error). Granary's per-item and batch limits keep
/// every request that passes them below the limit, and the SDK's batchers split by size.
/// </summary>
public static class MessageSizeLimit
{
    /// <summary>Sets <c>MaxMessageBodySize</c> of a silo (<c>SiloMessagingOptions</c>) or a client (<c>ClientMessagingOptions</c>) to <see cref="Limits.MaxMessageBytes"/>.</summary>
    public static void Apply(MessagingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.MaxMessageBodySize = Limits.MaxMessageBytes;
    }
}
