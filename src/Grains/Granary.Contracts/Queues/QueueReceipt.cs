using System.Globalization;

namespace Granary.Queues;

/// <summary>
/// Identifies one delivery: partition, message sequence and lease token, written
/// <c>partition.sequence.token</c>. A new delivery of the same message gets a new token, so a
/// consumer whose lease expired cannot settle the message another consumer holds.
/// </summary>
[GenerateSerializer, Alias("granary.queues.receipt")]
public readonly record struct QueueReceipt(
    [property: Id(0)] int Partition,
    [property: Id(1)] long Sequence,
    [property: Id(2)] long LeaseToken)
{
    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Partition}.{Sequence}.{LeaseToken}");

    /// <summary>Parses <c>partition.sequence.token</c>; false for anything else.</summary>
    public static bool TryParse(string? text, out QueueReceipt receipt)
    {
        receipt = default;
        if (string.IsNullOrEmpty(text) || text.Length > 64)
        {
            return false;
        }

        var parts = text.Split('.');
        if (parts.Length == 3
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var partition)
            && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var sequence)
            && long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var token))
        {
            receipt = new QueueReceipt(partition, sequence, token);
            return true;
        }

        return false;
    }

    /// <summary>Parses or raises <see cref="ReceiptInvalidException"/>.</summary>
    public static QueueReceipt Parse(string? text) =>
        TryParse(text, out var receipt) ? receipt : throw new ReceiptInvalidException(text ?? "", ReceiptProblem.Unknown);
}
