using System.Globalization;

namespace ReverseSD.MLNet.Evaluation;

/// <summary>How reports print a difference of cosines: its sign and 4 decimals.</summary>
internal static class SignedDifference
{
    /// <summary>
    /// "+0.0123", "-0.0123"; one that rounds to zero is "0.0000", never "-+0.0000" (.NET keeps the minus of a negative
    /// number that rounds to zero in front of the positive section); "-" when not finite.
    /// </summary>
    public static string Format(double value)
    {
        if (!double.IsFinite(value)) return "-";
        double rounded = Math.Round(value, 4);
        return rounded == 0 ? "0.0000" : rounded.ToString("+0.0000;-0.0000", CultureInfo.InvariantCulture);
    }
}
