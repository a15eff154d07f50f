using Granary.Errors;

namespace Granary.Transactions;

/// <summary>Resolves a <see cref="ParticipantRef"/> to its grain.</summary>
public static class Participants
{
    /// <summary>The 2PC face of the participant.</summary>
    public static ITransactionParticipant Transactional(IGrainFactory grains, ParticipantRef participant)
    {
        ArgumentNullException.ThrowIfNull(grains);
        ArgumentNullException.ThrowIfNull(participant);
        return participant.Kind switch
        {
            ParticipantKind.Account => grains.GetGrain<IAccountGrain>(participant.Key),
            ParticipantKind.Inventory => grains.GetGrain<IInventoryGrain>(participant.Key),
            ParticipantKind.Coupon => grains.GetGrain<ICouponGrain>(participant.Key),
            ParticipantKind.Scripted => grains.GetGrain<IScriptedParticipantGrain>(participant.Key),
            _ => throw new InvalidRequestException("participant", $"unknown participant kind {participant.Kind}"),
        };
    }

    /// <summary>The participant named by <see cref="ParticipantRef.ToString"/> (<c>kind:key</c>).</summary>
    public static ParticipantRef Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var colon = name.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || !Enum.TryParse<ParticipantKind>(name[..colon], ignoreCase: true, out var kind) || !Enum.IsDefined(kind))
        {
            throw new InvalidRequestException("participant", $"'{name}' does not name a participant");
        }

        return new ParticipantRef(kind, name[(colon + 1)..]);
    }

    /// <summary>Checks a transaction request before anything is sent: steps present, participants valid and distinct, each operation suits its participant.</summary>
    public static void ValidateRequest(TxRequest? request)
    {
        if (request?.Steps is null)
        {
            throw new InvalidRequestException(nameof(request), "must list steps");
        }

        Validate(request.Steps.Select(s => s?.Participant!).ToList(), "steps");
        for (var i = 0; i < request.Steps.Count; i++)
        {
            ValidateOperation(request.Steps[i].Participant, request.Steps[i].Operation, $"steps[{i}]");
        }
    }

    /// <summary>The saga face of the participant.</summary>
    public static ISagaParticipant Saga(IGrainFactory grains, ParticipantRef participant) =>
        (ISagaParticipant)Transactional(grains, participant);

    /// <summary>Checks a participant list: known kinds, valid keys, within limits, each at most once.</summary>
    public static void Validate(IReadOnlyList<ParticipantRef>? participants, string parameter)
    {
        if (participants is null || participants.Count == 0)
        {
            throw new InvalidRequestException(parameter, "must name at least one participant");
        }

        if (participants.Count > Limits.Transactions.MaxParticipants)
        {
            throw new InvalidRequestException(parameter, $"names {participants.Count} participants; the limit is {Limits.Transactions.MaxParticipants}");
        }

        foreach (var p in participants)
        {
            if (p is null || !Enum.IsDefined(p.Kind))
            {
                throw new InvalidRequestException(parameter, "names an unknown kind of participant");
            }

            Guard.Name(p.Key, parameter + ".key");
        }

        var duplicate = participants.GroupBy(p => p).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new InvalidRequestException(parameter, $"{duplicate.Key} appears more than once");
        }
    }

    /// <summary>Checks that an operation suits its participant and has valid arguments (before anything is sent).</summary>
    public static void ValidateOperation(ParticipantRef participant, TxOperation? operation, string parameter)
    {
        ArgumentNullException.ThrowIfNull(participant);
        switch (participant.Kind, operation)
        {
            case (ParticipantKind.Account, Debit d):
                Guard.InRange(d.Amount, parameter + ".amount", 1, Limits.Transactions.MaxAmount);
                break;
            case (ParticipantKind.Account, Credit c):
                Guard.InRange(c.Amount, parameter + ".amount", 1, Limits.Transactions.MaxAmount);
                break;
            case (ParticipantKind.Inventory, TakeStock t):
                Guard.Name(t.Sku, parameter + ".sku");
                Guard.InRange(t.Quantity, parameter + ".quantity", 1, Limits.Transactions.MaxStock);
                break;
            case (ParticipantKind.Coupon, RedeemCoupon r):
                Guard.Name(r.Customer, parameter + ".customer");
                break;
            case (ParticipantKind.Scripted, ScriptedStep s):
                Guard.Name(s.Label, parameter + ".label");
                break;
            default:
                throw new InvalidRequestException(parameter, $"{participant} cannot take '{operation?.Describe() ?? "nothing"}'");
        }
    }
}
