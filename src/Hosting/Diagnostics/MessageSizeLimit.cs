using System.Globalization;
using Granary.Errors;
using Orleans.Configuration;

namespace Granary.Hosting.Diagnostics;

/// <summary>
/// Orleans' message size limit set to <see cref="Limits.MaxMessageBytes"/> on silos and clients, and
/// the typed error a caller gets when a request or reply is larger. Orleans checks the length when it
/// serialises a message (the sender's call fails at once with an <see cref="OrleansException"/>
/// "Invalid body size ...") and when it reads a frame header (a silo closes the connection of a peer
/// that sends a larger frame, before it deserialises anything); <see cref="ToInvalidRequest"/> turns
/// the first into <c>INVALID_ARGUMENT</c>.
/// </summary>
public static class MessageSizeLimit
{
    /// <summary>The start of Orleans' message for a body over <c>MaxMessageBodySize</c>.</summary>
    private const string OrleansOversizeText = "Invalid body size";

    /// <summary>Sets <c>MaxMessageBodySize</c> of the silo to <see cref="Limits.MaxMessageBytes"/>.</summary>
    public static void Apply(SiloMessagingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.MaxMessageBodySize = Limits.MaxMessageBytes;
    }

    /// <summary>Sets <c>MaxMessageBodySize</c> of the client to <see cref="Limits.MaxMessageBytes"/>.</summary>
    public static void Apply(ClientMessagingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.MaxMessageBodySize = Limits.MaxMessageBytes;
    }

    /// <summary>The typed error for Orleans' oversize-message error anywhere in <paramref name="exception"/>'s chain; null for anything else.</summary>
    public static InvalidRequestException? ToInvalidRequest(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is OrleansException && e.Message.StartsWith(OrleansOversizeText, StringComparison.Ordinal))
            {
                return new InvalidRequestException(
                    "request",
                    string.Create(CultureInfo.InvariantCulture, $"the request or its reply is too large: at most {Limits.MaxMessageBytes} bytes serialised (Limits.MaxMessageBytes); send or ask for less ({e.Message})"));
            }
        }

        return null;
    }
}

/// <summary>Client side: a call whose request (or reply) was over <see cref="Limits.MaxMessageBytes"/> fails with <c>INVALID_ARGUMENT</c>, not an untyped Orleans error.</summary>
public sealed class MessageSizeClientFilter : IOutgoingGrainCallFilter
{
    /// <inheritdoc/>
    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        try
        {
            await context.Invoke();
        }
        catch (OrleansException ex) when (MessageSizeLimit.ToInvalidRequest(ex) is { } typed)
        {
            throw typed;
        }
    }
}
