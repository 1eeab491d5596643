"""Text summaries of a run's results, for people (`summary.txt` and the CLI)."""

from __future__ import annotations


def format_section_41(config, names, results: dict[str, float], where: str) -> str:
    """Section 4.1 of a run evaluated on another dataset or split, for people."""
    lines = [f"kerasolr run (preset {config.preset}, trained on {config.data.dataset}) "
             f"evaluated on {where}", "", *_section_41_lines(results, "evaluated split"),
             *_per_label_lines(names, results)]
    return "\n".join(lines) + "\n"


def _per_label_lines(names, r) -> list[str]:
    lines = ["", f"{'label':22s} classifier  probe   norm AUC  absent/present"]
    for name in names:
        lines.append(
            f"{name:22s} {r[f'per_label.{name}.classifier_accuracy']:.4f}     "
            f"{r[f'per_label.{name}.probe_accuracy']:.4f}  {r[f'per_label.{name}.norm_auc']:.4f}"
            f"    {r[f'per_label.{name}.absent_present_norm_ratio']:.3f}")
    return lines


def _section_41_lines(r, split_title: str = "held-out split") -> list[str]:
    return [
        f"Paper section 4.1, {split_title:24s}mean acc   balanced",
        f"  convolutional classifier                  {r['classifier.mean_accuracy']:.4f}"
        f"     {r['classifier.balanced_accuracy']:.4f}",
        f"  linear probe on OLR embeddings            {r['probe.mean_accuracy']:.4f}"
        f"     {r['probe.balanced_accuracy']:.4f}",
        f"  majority-class baseline                   {r['majority.mean_accuracy']:.4f}"
        f"     {r['majority.balanced_accuracy']:.4f}",
        f"  classifier on occluded images             {r['classifier.occluded_mean_accuracy']:.4f}",
        "",
        f"Slot-norm AUC: mean {r['slots.norm_auc_mean']:.4f}, min {r['slots.norm_auc_min']:.4f}; "
        f"median norm absent/present: {r['slots.absent_present_norm_ratio']:.3f}",
        f"Norm-correlation vs label-correlation: r = {r['correlation.norm_vs_label_pearson']:.3f}",
    ]


def format_summary(config, names, results: dict[str, float]) -> str:
    """A short human-readable summary of a run's results."""
    r = results
    lines = [
        f"kerasolr run (preset {config.preset}): {config.data.dataset}, "
        f"{config.data.image_size}px, L={len(names)}, k={config.siamese.k}",
        "", *_section_41_lines(r)]
    if "validation.probe.mean_accuracy" in r:
        lines.append(
            f"Validation split (choices made here): probe {r['validation.probe.mean_accuracy']:.4f}"
            f" after {r['probe.epochs_chosen']:.0f} epochs, classifier "
            f"{r['validation.classifier.mean_accuracy']:.4f}")
    if "correlation.norm_vs_truth_pearson" in r:
        lines.append("Norm-correlation vs generator truth:   r = "
                     f"{r['correlation.norm_vs_truth_pearson']:.3f}")
    if "retrieval.classifier_map_mean" in r:
        lines += [
            f"Retrieval mAP by each label (chance {r['retrieval.chance_map_mean']:.3f}; "
            "chance-corrected in brackets):",
            f"  its slot {r['retrieval.map_mean']:.3f} ({r['retrieval.map_corrected_mean']:.3f}), "
            f"the classifier's output {r['retrieval.classifier_map_mean']:.3f} "
            f"({r['retrieval.classifier_map_corrected_mean']:.3f}), the whole embedding "
            f"{r['retrieval.whole_map_mean']:.3f} ({r['retrieval.whole_map_corrected_mean']:.3f})"]
    if "retrieval.query_db_map_corrected_mean" in r:
        lines.append(
            "  query/database protocol, chance-corrected: its slot "
            f"{r['retrieval.query_db_map_corrected_mean']:.3f}, the classifier's output "
            f"{r.get('retrieval.classifier_query_db_map_corrected_mean', float('nan')):.3f}")
    if "pca.pc1_explained_variance_mean" in r:
        lines.append(f"PCA of slots: PC1 explains {r['pca.pc1_explained_variance_mean']:.3f} of "
                     "the variance (mean over labels);")
        lines.append(f"  Spearman(PC1 projection, classifier probability) "
                     f"{r['pca.pc1_prob_spearman_mean']:.3f}")
    if "recon.ssim" in r:
        lines += ["", "Paper section 4.4, held-out split          SSIM     PSNR"]
        for title, key in (("OLR decoder on frozen embeddings", "recon."),
                           ("baseline: probabilities only", "recon.probs_baseline_"),
                           ("baseline: autoencoder, same code size",
                            "recon.autoencoder_baseline_")):
            if f"{key}ssim" in r:
                lines.append(f"  {title:40s} {r[f'{key}ssim']:.4f}   {r[f'{key}psnr']:.2f}")
        lines += [
            f"Judge (independent classifier): {r['judge.mean_accuracy']:.4f} on real images, "
            f"{r['recon.judge_accuracy']:.4f} on OLR reconstructions",
            "",
            "Paper section 4.5 (judged relative to the unedited reconstruction)",
            f"  add success {r['edit.add_success']:.3f} (x{config.edit.scale:g}: "
            f"{r['edit.add_success_scaled']:.3f})   remove success "
            f"{r['edit.remove_success']:.3f}   preservation {r['edit.preservation']:.3f}   "
            f"emphasis gain {r['edit.emphasis_gain']:+.3f}",
            f"  generation from labels alone: balanced accuracy "
            f"{r.get('generation.balanced_accuracy', float('nan')):.3f}",
            f"    (asked-for labels seen {r['generation.accuracy']:.3f}, unwanted absent "
            f"{r['generation.unwanted_absent']:.3f});",
            f"    diversity, the RMS pixel difference of two samples of one label set: "
            f"{r.get('generation.diversity', float('nan')):.3f}",
            "    (two real images with the same labels, decoded: "
            f"{r.get('generation.diversity_reference', float('nan')):.3f})",
        ]
    lines += _per_label_lines(names, r)
    lines += ["", f"Total time: {r['timing.total_seconds']:.0f} s"]
    return "\n".join(lines) + "\n"
