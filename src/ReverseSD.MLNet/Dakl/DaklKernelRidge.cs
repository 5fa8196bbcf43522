using System.Diagnostics;
using ReverseSD.MLNet.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace ReverseSD.MLNet.Dakl;

/// <summary>
/// The DAKL equations (paper §3, Eq. 5–7), vectorised with TorchSharp in float32 (or float64). Z = C ∪ X̄ (r centroids, p unlabelled
/// target-domain samples, m = r + p rows); K̂ = Ẑ Ẑᵀ for row-normalised Ẑ (Eq. 5–6); K_DA = exp(−γ(1 − K̂)) (Eq. 7); the rows of
/// K_DA are the second-order features, and dual ridge regression with the linear kernel on them is fitted on the centroid rows:
/// A = (M Mᵀ + αI)⁻¹ Y_C with M = K_DA[C, :] (r × m). A sample z is scored as ŷ = k_DA(z) W with
/// k_DA(z) = exp(−γ(1 − ẑ Ẑᵀ)) and W = Mᵀ A, then L2-normalised.
/// </summary>
/// <remarks>
/// With a small γ every entry of K_DA is close to 1, so M Mᵀ is a huge rank-one matrix plus the informative part, and a
/// Cholesky of it would lose that part. The solve therefore uses the exact split M = 1 1ᵀ + D with
/// D = expm1(−γ(1 − K̂[C, :])): M Mᵀ + αI = (αI + D Dᵀ) + U S Uᵀ with U = [1, s], s = D 1, S = [[m, 1], [1, 0]], solved in float64 by
/// Cholesky of αI + D Dᵀ and the Woodbury identity. D is built in column blocks of at most <c>memoryBudgetBytes</c>, so only
/// r × r and r × block matrices live at once. A is kept in float64 for W = Mᵀ A: with a small α its entries are of size ‖Y‖/α while
/// 1ᵀA is small, and a float32 A put errors of 0.08–0.8 into the predictions at α ≤ 0.01 (mean cosine 0.66 instead of 0.94). With a
/// small α, αI + D Dᵀ is also ill-conditioned (κ ≤ λ_max / α); when 6e-8 · κ exceeds <see cref="RoundingErrorTolerance"/> the float32
/// kernel D Dᵀ is rebuilt in float64 (a float32 kernel left errors of 1e-3 at κ ≈ 1e4 and 3e-3 at κ ≈ 1e5–1e7 in probes; 2e-5 at κ ≈ 100).
/// </remarks>
internal static class DaklKernelRidge
{
    /// <summary>Step times, whether the kernel was built in float64, and the bound on the condition number of αI + D Dᵀ.</summary>
    public sealed record Timings(TimeSpan Kernel, TimeSpan Solve, TimeSpan Weights, bool Float64Kernel, double ConditionBound);

    /// <summary>
    /// Largest tolerated bound on the relative rounding error of the solve, ε · κ (unit roundoff ε of the kernel's precision, κ the
    /// condition number bound of αI + D Dᵀ). Above it a float32 kernel is rebuilt in float64; above it in float64 the fit fails.
    /// </summary>
    public const double RoundingErrorTolerance = 1e-4;

    /// <summary>
    /// Fits the kernel ridge from centroids (r × d) and their targets (r × t), with p target-domain rows (may be null). The solve always
    /// runs in float64; a float32 kernel whose ridge system is too ill-conditioned for float32 (small α) is rebuilt in float64, and a
    /// system too ill-conditioned even for float64 throws a <see cref="ReverseSdInputException"/> asking for a larger α.
    /// </summary>
    public static DaklSolution Fit(EmbeddingMatrix centroids, EmbeddingMatrix centroidTargets, EmbeddingMatrix? targetDomain,
        float gamma, float alpha, long memoryBudgetBytes = 512L << 20, bool float64 = false)
    {
        int r = centroids.Rows, d = centroids.Columns;
        if (centroidTargets.Rows != r) throw new ArgumentException("One target per centroid is needed.", nameof(centroidTargets));
        if (targetDomain != null && targetDomain.Columns != d)
            throw new ReverseSdInputException($"The target-domain embeddings have {targetDomain.Columns} values per row; the training embeddings have {d}.");
        int t = centroidTargets.Columns, p = targetDomain?.Rows ?? 0, m = r + p;
        int block = (int)Math.Clamp(memoryBudgetBytes / 4 / Math.Max(1, r), 1, m);

        using var outer = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var clock = Stopwatch.StartNew();
        var z32 = torch.tensor(centroids.Values, [r, d]);
        if (targetDomain != null) z32 = torch.cat([z32, torch.tensor(targetDomain.Values, [p, d])], 0);
        Tensor zHat = null!, cHat = null!;

        Tensor DBlock(int start, int count) =>
            torch.special.expm1(cHat.mm(zHat.narrow(0, start, count).t()).sub_(1).mul_(gamma));

        // Kernel: B = D Dᵀ + αI (r × r, float64) and s = D 1, accumulated over column blocks of D.
        (Tensor B, Tensor S, double ConditionBound) Kernel(ScalarType dtype)
        {
            zHat = nn.functional.normalize(z32.to(dtype), p: 2, dim: 1);
            cHat = zHat.narrow(0, 0, r);
            var pMatrix = torch.zeros(r, r, dtype);
            var s = torch.zeros(r, dtype);
            for (int start = 0; start < m; start += block)
            {
                using var scope = torch.NewDisposeScope();
                var dBlock = DBlock(start, Math.Min(block, m - start));
                pMatrix.addmm_(dBlock, dBlock.t());
                s.add_(dBlock.sum(1));
            }
            var b = pMatrix.to(ScalarType.Float64);
            pMatrix.Dispose();
            b.diagonal().add_(alpha);
            // λ_min(B) ≥ α and λ_max(B) ≤ the largest absolute row sum (Gershgorin), so κ(B) ≤ that sum / α.
            return (b, s.to(ScalarType.Float64), b.abs().sum(1).max().item<double>() / alpha);
        }

        var (bMatrix, sums, conditionBound) = Kernel(float64 ? ScalarType.Float64 : ScalarType.Float32);
        if (!float64 && conditionBound * Float32Roundoff > RoundingErrorTolerance)
        {
            float64 = true;
            bMatrix.Dispose();
            (bMatrix, sums, conditionBound) = Kernel(ScalarType.Float64);
        }
        if (conditionBound * Float64Roundoff > RoundingErrorTolerance)
            throw new ReverseSdInputException(
                $"The DAKL ridge system at γ = {gamma:G4}, α = {alpha:G4} is too ill-conditioned to solve even in float64 (condition number up to {conditionBound:G3}); raise α.");
        var kernelTime = clock.Elapsed;

        // Solve in float64: A = (B + U S Uᵀ)⁻¹ Y (Woodbury). The rank-one part 1 1ᵀ makes the Woodbury correction cancel most of
        // B⁻¹ Y, which float32 cannot represent.
        clock.Restart();
        var (l, info) = torch.linalg.cholesky_ex(bMatrix);
        bMatrix.Dispose();
        if (info.item<int>() != 0)
            throw new ReverseSdInputException($"The DAKL ridge system at γ = {gamma:G4}, α = {alpha:G4} is not positive definite even in float64; raise α.");
        var u = torch.stack([torch.ones(r, ScalarType.Float64), sums], 1);          // r × 2
        var y = torch.tensor(centroidTargets.Values, [r, t]).to(ScalarType.Float64);
        var a = Woodbury(l, u, y, m);
        l.Dispose();
        var solveTime = clock.Elapsed;

        // Weights: W = Mᵀ A = 1 (1ᵀA) + Dᵀ A, by row blocks of W (column blocks of D), with A in float64: its entries are of size
        // ‖Y‖/α while 1ᵀA is small, and a scorer sums m copies of 1ᵀA, so float32 A would put m·ε·‖Y‖/α of noise in every prediction.
        clock.Restart();
        var w = new float[(long)m * t];
        var columnSums = a.sum(0, keepdim: true);
        for (int start = 0; start < m; start += block)
        {
            using var scope = torch.NewDisposeScope();
            int count = Math.Min(block, m - start);
            var wBlock = DBlock(start, count).to(ScalarType.Float64).t().mm(a).add_(columnSums).to(ScalarType.Float32).contiguous();
            wBlock.data<float>().CopyTo(w.AsSpan(start * t, count * t));
        }
        var weightsTime = clock.Elapsed;

        var points = new float[(long)m * d];
        zHat.to(ScalarType.Float32).contiguous().data<float>().CopyTo(points);
        return new DaklSolution(points, w, m, d, t, gamma, new Timings(kernelTime, solveTime, weightsTime, float64, conditionBound));
    }

    private const double Float32Roundoff = 5.96e-8, Float64Roundoff = 1.11e-16;

    private static Tensor Woodbury(Tensor l, Tensor u, Tensor y, int m)
    {
        var xY = torch.cholesky_solve(y, l);                         // B⁻¹ Y
        var xU = torch.cholesky_solve(u, l);                         // B⁻¹ U
        var inner = u.t().mm(xU).to(ScalarType.Float64);            // Uᵀ B⁻¹ U
        inner += torch.tensor(new double[] { 0, 1, 1, -m }, [2, 2]); // + S⁻¹
        var correction = torch.linalg.solve(inner, u.t().mm(xY).to(ScalarType.Float64)).to(y.dtype);
        return xY - xU.mm(correction);
    }
}

/// <summary>A fitted DAKL model: the normalised rows Ẑ of Z = C ∪ X̄ and the weights W; scores as normalise(exp(−γ(1 − ẑẐᵀ)) W).</summary>
internal sealed class DaklSolution(float[] normalisedPoints, float[] weights, int points, int inputSize, int outputSize, float gamma, DaklKernelRidge.Timings timings)
{
    public float[] NormalisedPoints { get; } = normalisedPoints;
    public float[] Weights { get; } = weights;
    public int Points { get; } = points;
    public int InputSize { get; } = inputSize;
    public int OutputSize { get; } = outputSize;
    public float Gamma { get; } = gamma;
    public DaklKernelRidge.Timings Timings { get; } = timings;

    /// <summary>Scores with TorchSharp (fit-time evaluation); the compiled ONNX graph computes the same.</summary>
    public float[] Predict(EmbeddingMatrix inputs, int batchSize = 2048)
    {
        if (inputs.Columns != InputSize)
            throw new ReverseSdInputException($"The DAKL input has {inputs.Columns} values per row; the model was fitted on {InputSize}.");
        var result = new float[(long)inputs.Rows * OutputSize];
        using var outer = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var zT = torch.tensor(NormalisedPoints, [Points, InputSize]).t();
        var w = torch.tensor(Weights, [Points, OutputSize]);
        for (int start = 0; start < inputs.Rows; start += batchSize)
        {
            using var scope = torch.NewDisposeScope();
            int rows = Math.Min(batchSize, inputs.Rows - start);
            var x = nn.functional.normalize(torch.tensor(inputs.Values.AsSpan(start * InputSize, rows * InputSize).ToArray(), [rows, InputSize]), p: 2, dim: 1);
            var features = x.mm(zT).sub_(1).mul_(Gamma).exp_();
            var y = nn.functional.normalize(features.mm(w), p: 2, dim: 1).contiguous();
            y.data<float>().CopyTo(result.AsSpan(start * OutputSize, rows * OutputSize));
        }
        return result;
    }

    /// <summary>normalise z → MatMul Ẑᵀ → ×γ − γ → Exp → MatMul W → L2-normalise.</summary>
    public byte[] Compile(string inputName, string outputName)
    {
        if ((long)Points * (InputSize + OutputSize) * sizeof(float) > 1_900_000_000L)
            throw new ReverseSdInputException(
                $"A DAKL model with {Points} centroid + target-domain rows exceeds the 2 GB limit of one ONNX file; use fewer centroids or target-domain samples.");
        var g = new OnnxGraphBuilder("dakl");
        g.Metadata("reversesd.stage", "dakl");
        g.Metadata("reversesd.format", "1");
        g.Metadata("reversesd.dakl.gamma", Gamma.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        string x = g.L2Normalize(g.Input(inputName, [-1, InputSize]));
        string zT = g.Initializer("points_t", EmbeddingMatrix.Transpose(NormalisedPoints, Points, InputSize), InputSize, Points);
        string similarity = g.Node("MatMul", [x, zT]);
        string features = g.Node("Exp", [g.Node("Add", [g.Node("Mul", [similarity, g.Scalar(Gamma)]), g.Scalar(-Gamma)])]);
        string y = g.Node("MatMul", [features, g.Initializer("weights", Weights, Points, OutputSize)]);
        g.Output(g.L2Normalize(y), outputName, [-1, OutputSize]);
        return g.ToBytes();
    }
}
