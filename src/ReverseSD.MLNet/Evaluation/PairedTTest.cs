namespace ReverseSD.MLNet.Evaluation;

/// <summary>Result of a paired t-test: t statistic, degrees of freedom, two-sided p-value and mean difference (a − b).</summary>
public sealed record PairedTTestResult(double T, int DegreesOfFreedom, double PValue, double MeanDifference);

/// <summary>
/// The paired (dependent samples) Student t-test the paper uses on per-sample cosines (p &lt; 0.001, §4).
/// The two-sided p-value comes from Student's t distribution through the regularized incomplete beta function.
/// </summary>
public static class PairedTTest
{
    /// <summary>Tests whether the mean of <paramref name="a"/>[i] − <paramref name="b"/>[i] differs from zero.</summary>
    public static PairedTTestResult Run(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Count != b.Count) throw new ArgumentException($"Paired samples need equal lengths; got {a.Count} and {b.Count}.");
        if (a.Count < 2) throw new ArgumentException("A paired t-test needs at least two pairs.");
        int n = a.Count;
        double mean = 0;
        for (int i = 0; i < n; i++) mean += a[i] - b[i];
        mean /= n;
        double ss = 0;
        for (int i = 0; i < n; i++)
        {
            double d = a[i] - b[i] - mean;
            ss += d * d;
        }
        double se = Math.Sqrt(ss / (n - 1) / n);
        int df = n - 1;
        if (se == 0)
            return new PairedTTestResult(mean == 0 ? 0 : Math.CopySign(double.PositiveInfinity, mean), df, mean == 0 ? 1 : 0, mean);
        double t = mean / se;
        return new PairedTTestResult(t, df, TwoSidedPValue(t, df), mean);
    }

    /// <summary>P(|T| ≥ |t|) for Student's t with <paramref name="degreesOfFreedom"/>: I_{df/(df+t²)}(df/2, 1/2).</summary>
    public static double TwoSidedPValue(double t, double degreesOfFreedom)
    {
        if (!(degreesOfFreedom > 0)) throw new ArgumentOutOfRangeException(nameof(degreesOfFreedom), "Degrees of freedom must be positive.");
        if (double.IsNaN(t)) return double.NaN;
        if (double.IsInfinity(t)) return 0;
        double x = degreesOfFreedom / (degreesOfFreedom + t * t);
        return Math.Clamp(RegularizedIncompleteBeta(degreesOfFreedom / 2, 0.5, x), 0, 1);
    }

    /// <summary>The regularized incomplete beta function I_x(a, b), by Lentz's continued fraction (Numerical Recipes §6.4).</summary>
    public static double RegularizedIncompleteBeta(double a, double b, double x)
    {
        if (!(a > 0) || !(b > 0)) throw new ArgumentOutOfRangeException(nameof(a), "a and b must be positive.");
        if (!(x >= 0 && x <= 1)) throw new ArgumentOutOfRangeException(nameof(x), "x must be in [0, 1].");
        if (x == 0 || x == 1) return x;
        double front = Math.Exp(LogGamma(a + b) - LogGamma(a) - LogGamma(b) + a * Math.Log(x) + b * Math.Log(1 - x));
        // The continued fraction converges fast for x < (a+1)/(a+b+2); use the symmetry I_x(a,b) = 1 − I_{1−x}(b,a) otherwise.
        return x < (a + 1) / (a + b + 2)
            ? front * BetaContinuedFraction(a, b, x) / a
            : 1 - front * BetaContinuedFraction(b, a, 1 - x) / b;
    }

    /// <summary>ln Γ(x) for x &gt; 0 (Lanczos approximation, g = 7, about 15 correct digits).</summary>
    public static double LogGamma(double x)
    {
        if (x < 0.5) return Math.Log(Math.PI / Math.Abs(Math.Sin(Math.PI * x))) - LogGamma(1 - x);
        ReadOnlySpan<double> c =
        [
            0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
            12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
        ];
        x -= 1;
        double sum = c[0];
        for (int i = 1; i < c.Length; i++) sum += c[i] / (x + i);
        double t = x + 7.5;
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(sum);
    }

    private static double BetaContinuedFraction(double a, double b, double x)
    {
        const double tiny = 1e-300, epsilon = 1e-15;
        double qab = a + b, qap = a + 1, qam = a - 1;
        double c = 1, d = 1 - qab * x / qap;
        if (Math.Abs(d) < tiny) d = tiny;
        d = 1 / d;
        double h = d;
        for (int m = 1; m <= 10_000; m++)
        {
            int m2 = 2 * m;
            double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
            d = 1 + aa * d; if (Math.Abs(d) < tiny) d = tiny;
            c = 1 + aa / c; if (Math.Abs(c) < tiny) c = tiny;
            d = 1 / d;
            h *= d * c;
            aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
            d = 1 + aa * d; if (Math.Abs(d) < tiny) d = tiny;
            c = 1 + aa / c; if (Math.Abs(c) < tiny) c = tiny;
            d = 1 / d;
            double delta = d * c;
            h *= delta;
            if (Math.Abs(delta - 1) < epsilon) return h;
        }
        throw new InvalidOperationException($"The incomplete beta continued fraction did not converge for a={a}, b={b}, x={x}.");
    }
}
